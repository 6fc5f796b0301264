"""Who is acting: staff roles, the logged-in actor, and which department's data each may see."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    liaison = "liaison"
    supervisor = "supervisor"
    deputy = "deputy"
    admin = "admin"


ROLE_TEXT: dict[Role, str] = {
    Role.liaison: "部门联络员",
    Role.supervisor: "监督员",
    Role.deputy: "人大代表/政协委员/媒体观察员",
    Role.admin: "系统管理员",
}


# --- who is acting ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    user_id: int
    username: str
    role: Role
    department_id: int | None = None

    @property
    def sees_personal_data_of_all(self) -> bool:
        return self.role == Role.supervisor


def can_read(actor: Actor, department_id: int) -> bool:
    """Liaisons see their own department's tickets; supervisors and admins see every ticket."""
    if actor.role == Role.liaison:
        return actor.department_id is not None and actor.department_id == department_id
    return actor.role in (Role.supervisor, Role.admin)


def sees_personal_data(actor: Actor, department_id: int) -> bool:
    """DESIGN.md §3 rule 8: only the handling department and supervisors."""
    if actor.role == Role.supervisor:
        return True
    return actor.role == Role.liaison and actor.department_id == department_id
