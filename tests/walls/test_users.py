"""Local user list, roles and permission checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app import users as u


def test_roles_permissions() -> None:
    op = u.User("bianchi", u.Role.OPERATOR)
    sup = u.User("rossi", u.Role.SUPERVISOR)
    for action in (u.EDIT_LAYOUTS, u.EDIT_WALLS, u.EDIT_SITE, u.EDIT_MAP):
        assert u.can(sup, action)
        assert not u.can(op, action)
    for action in (u.USE_LAYOUTS, u.PUSH_TO_WALL, u.CONTROL_PTZ, u.EXPORT):
        assert u.can(op, action)
    assert not u.can(None, u.USE_LAYOUTS)
    assert not u.can(sup, "launch.missiles")


def test_user_file_and_its_errors(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    path.write_text(
        json.dumps(
            {
                "users": [
                    {"name": "rossi", "role": "supervisor", "full_name": "Ispettore Rossi"},
                    {"name": "bianchi"},
                ]
            }
        )
    )
    users = u.load_users(path)
    assert [(x.name, x.role) for x in users] == [
        ("rossi", u.Role.SUPERVISOR),
        ("bianchi", u.Role.OPERATOR),
    ]
    assert u.find_user(users, "rossi") is users[0]
    assert users[0].label == "Ispettore Rossi (supervisor)"
    with pytest.raises(u.UsersError, match=r"users\[0\].role: 'admin' is not one of"):
        u.parse_users('{"users": [{"name": "x", "role": "admin"}]}')
    with pytest.raises(u.UsersError, match="twice"):
        u.parse_users('{"users": [{"name": "x"}, {"name": "x"}]}')
    with pytest.raises(u.UsersError, match="not JSON"):
        u.parse_users("{")
    alone = u.load_users(tmp_path / "missing.json")
    assert len(alone) == 1
    assert alone[0].role == u.Role.SUPERVISOR
