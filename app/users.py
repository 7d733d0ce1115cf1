"""Local user list with roles (operator, supervisor) and the permission check ``can``."""

from __future__ import annotations

import getpass
import json
import logging
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

logger = logging.getLogger(__name__)


class Role(StrEnum):
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"


# What each role may do. An operator uses layouts, walls and cameras; a supervisor also
# edits them (layouts, walls, the site and the map).
USE_LAYOUTS = "layout.use"
EDIT_LAYOUTS = "layout.edit"
PUSH_TO_WALL = "wall.push"
EDIT_WALLS = "wall.edit"
EDIT_SITE = "site.edit"
EDIT_MAP = "map.edit"
CONTROL_PTZ = "ptz.control"
EXPORT = "export"

PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.OPERATOR: frozenset({USE_LAYOUTS, PUSH_TO_WALL, CONTROL_PTZ, EXPORT}),
    Role.SUPERVISOR: frozenset(
        {USE_LAYOUTS, PUSH_TO_WALL, CONTROL_PTZ, EXPORT}
        | {EDIT_LAYOUTS, EDIT_WALLS, EDIT_SITE, EDIT_MAP}
    ),
}


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: Role
    full_name: str = ""

    @property
    def label(self) -> str:
        return f"{self.full_name or self.name} ({self.role})"


def can(user: User | None, action: str) -> bool:
    """Whether ``user`` may do ``action``; nobody logged in may do nothing."""
    if user is None:
        return False
    return action in PERMISSIONS.get(user.role, frozenset())


class UsersError(ValueError):
    pass


def parse_users(text: str, source: str = "users") -> list[User]:
    """``{"users": [{"name": "rossi", "role": "supervisor", "full_name": "..."}]}``."""
    try:
        data = json.loads(text)
    except ValueError as e:
        raise UsersError(f"{source}: not JSON: {e}") from e
    rows = data.get("users") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise UsersError(f"{source}: expected an object with a 'users' list")
    users: list[User] = []
    seen: set[str] = set()
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not isinstance(row.get("name"), str) or not row["name"]:
            raise UsersError(f"{source}: users[{i}]: needs a 'name'")
        name = row["name"]
        try:
            role = Role(str(row.get("role", "operator")))
        except ValueError:
            raise UsersError(
                f"{source}: users[{i}].role: {row.get('role')!r} is not one of "
                f"{', '.join(r.value for r in Role)}"
            ) from None
        if name in seen:
            raise UsersError(f"{source}: users[{i}]: {name!r} appears twice")
        seen.add(name)
        users.append(User(name, role, str(row.get("full_name", ""))))
    if not users:
        raise UsersError(f"{source}: the user list is empty")
    return users


def load_users(path: Path | None) -> list[User]:
    """The local user list; without a file, the computer's account alone, as supervisor.

    A single-workstation install has nobody else to ask; a control room ships a file.
    """
    if path is None or not path.exists():
        account = _account()
        logger.warning(
            "no user list%s: the local account %r is supervisor",
            f" at {path}" if path else "",
            account,
        )
        return [User(account, Role.SUPERVISOR)]
    return parse_users(path.read_text(encoding="utf-8"), str(path))


def find_user(users: list[User], name: str) -> User | None:
    return next((u for u in users if u.name == name), None)


def _account() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "local"
