"""Start-up login: pick a user from the local list (skipped with ``--user NAME``)."""

from __future__ import annotations

import argparse
import contextlib
import sys
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from app.audit import SESSION_END, SESSION_START, AuditLog
from app.users import User, UsersError, find_user, load_users


class LoginDialog(QDialog):
    """Who is at this workstation. No password: the list is the room's, on this computer."""

    def __init__(self, users: list[User], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Torrazzo — who is working here?")
        self.users = users
        box = QVBoxLayout(self)
        box.addWidget(QLabel("User"))
        self.combo = QComboBox(self)
        for u in users:
            self.combo.addItem(u.label, u.name)
        box.addWidget(self.combo)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        box.addWidget(buttons)

    def user(self) -> User:
        return self.users[max(0, self.combo.currentIndex())]


def choose_user(users: list[User], name: str | None = None) -> User | None:
    """``name`` if given (it must be on the list), the only user, else ask; None: cancelled."""
    if name:
        found = find_user(users, name)
        if found is None:
            known = ", ".join(u.name for u in users)
            raise UsersError(f"unknown user {name!r}; the user list has: {known}")
        return found
    if len(users) == 1:
        return users[0]
    dialog = LoginDialog(users)
    return dialog.user() if dialog.exec() == QDialog.DialogCode.Accepted else None


@dataclass
class Session:
    """Who is logged in and the audit log their actions go to."""

    user: User
    audit: AuditLog

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.audit.append(SESSION_END)
        self.audit.close()


def users_file(args: argparse.Namespace, state_dir: Path) -> Path:
    """--users FILE, else ``users.json`` beside the site file, else in the state folder."""
    if getattr(args, "users", None):
        return Path(args.users)
    site = getattr(args, "site", None)
    if site and not getattr(args, "demo", False) and (Path(site).parent / "users.json").exists():
        return Path(site).parent / "users.json"
    return state_dir / "users.json"


def start_session(args: argparse.Namespace, state_dir: Path) -> Session | None:
    """Log in (``--user NAME`` or the dialog) and open the audit log; None: do not start."""
    try:
        users = load_users(users_file(args, state_dir))
        user = choose_user(users, getattr(args, "user", None))
    except UsersError as e:
        sys.stderr.write(f"torrazzo: {e}\n")
        return None
    if user is None:
        return None
    path = getattr(args, "audit_log", None) or state_dir / "audit.jsonl"
    try:
        audit = AuditLog(Path(path), user.name)
        audit.append(SESSION_START, role=str(user.role))
    except OSError as e:  # no audit, no session: the log is the room's record
        sys.stderr.write(f"torrazzo: cannot write the audit log {path}: {e}\n")
        return None
    return Session(user, audit)
