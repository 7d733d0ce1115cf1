"""Start-up login: pick a user from the local list (skipped with ``--user NAME``)."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from app.users import User, UsersError, find_user


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
