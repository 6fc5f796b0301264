"""`python -m evaluation_service create-user`: staff accounts from the command line."""

from __future__ import annotations

import getpass
import sys

from evaluation_service.identity.model import ROLE_TEXT, Role
from evaluation_service.identity.service import create_user
from evaluation_service.kernel.database import Database
from evaluation_service.kernel.errors import DomainError


async def create_user_command(
    db: Database,
    username: str,
    role: str,
    display_name: str,
    department: str | None,
    password_stdin: bool,
) -> int:
    """Prompts for the password twice (or reads one line from stdin, for scripts)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("密码：")
        if getpass.getpass("再次输入密码：") != password:
            print("两次输入的密码不一致，未创建用户。", file=sys.stderr)
            return 1
    try:
        async with db.write():
            user = await create_user(username, display_name or username, role, password, department)
    except DomainError as error:
        print(error.zh, file=sys.stderr)
        return 1
    where = f"，所属部门 {user.department_code}" if user.department_code else ""
    print(f"已创建用户“{user.username}”（{ROLE_TEXT[Role(user.role)]}{where}）。")
    return 0
