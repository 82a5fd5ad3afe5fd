"""Who calls (Actor) and the permission glue: every write is judged here by `tracker.permissions`' matrix."""

from __future__ import annotations

from dataclasses import dataclass

from tracker import permissions, rsyncpolicy
from tracker.models import CLASS_RANK, Node, NodeKind, TrackerProfile, UserClass
from tracker.services.columns import _apply, _kind_of
from tracker.services.errors import InvalidInput


@dataclass(frozen=True)
class Actor:
    """Who is calling: a user name, a class, and whether it is a site agent (which may write sync keys).

    `None` where an actor is optional means the system itself. The rules are `tracker.permissions`'.
    """

    name: str
    user_class: str = UserClass.USER
    agent: bool = False

    @property
    def is_admin(self) -> bool:
        return self.user_class == UserClass.ADMIN

    def at_least(self, user_class: str) -> bool:
        return CLASS_RANK.get(self.user_class, -1) >= CLASS_RANK[user_class]


def user_class_of(user) -> str:
    """Superusers are admin; others take their profile's class, `user` when they have none."""
    if user is None or not user.is_authenticated:
        return UserClass.GUEST
    if user.is_superuser:
        return UserClass.ADMIN
    try:
        return user.tracker_profile.user_class
    except TrackerProfile.DoesNotExist:
        return UserClass.USER


def actor_for(user) -> Actor:
    return Actor(name=user.get_username(), user_class=user_class_of(user))


def _matrix_kind(node_id: str, data: dict, previous: str | None = None) -> str:
    """The kind the permission matrix judges: what `data` makes of the node (after the write)."""
    return permissions.kind_of(node_id, _kind_of(node_id, data, previous))


def _check_volume_values(kind_before: str | None, kind_after: str, data: dict, changes: dict) -> None:
    """A volume's url, rsync_args and rsync_env must be values the agent would run, whoever writes them.

    Only the values written now are judged (status updates of a volume holding an old value still work),
    and all of them when the node becomes a volume by this write.
    """
    if kind_after != NodeKind.VOLUME:
        return
    keys = data if kind_before != NodeKind.VOLUME else {k: data.get(k) for k in changes}
    try:
        rsyncpolicy.check_volume_keys(keys)
    except rsyncpolicy.PolicyError as exc:
        raise InvalidInput(str(exc)) from exc


def _check_agent_rules(node_id: str, kind_after: str, changes: dict) -> None:
    """Glob rules (rsyncGlobalParameters or a volume) must parse, and a volume's deletion switches must be typed,
    at write time: the agents read them every round, so a bad value would otherwise fail every site later."""
    if node_id != permissions.GLOBAL_PARAMETERS_ID and kind_after != NodeKind.VOLUME:
        return
    try:
        rsyncpolicy.check_pattern_keys(changes)
        if kind_after == NodeKind.VOLUME:
            rsyncpolicy.check_deletion_keys(changes)
    except rsyncpolicy.PolicyError as exc:
        raise InvalidInput(str(exc)) from exc


def _judge_write(
    actor: Actor | None, op: permissions.Op, node_id: str, node: Node | None, changes: dict, *, trusted: bool = False
) -> tuple[dict, str | None, str]:
    """Apply the permission matrix and the volume rules to one write; (keys after, kind before, kind after).

    `node` is the stored node (None: the write creates it). `trusted` code keeps only authorMode and the rules
    no caller escapes (user nodes, a volume's rsync values).
    """
    if node is None:
        after, kind_before = {k: v for k, v in changes.items() if v is not None}, None
    else:
        after, kind_before = _apply(node.data, changes), permissions.kind_of(node_id, node.kind)
    kind_after = _matrix_kind(node_id, after, node.kind if node is not None else None)
    current = node.data if node is not None else None
    if trusted:
        permissions.check_kind(None, op, node_id, (kind_before, kind_after))
        permissions.check_author(actor, node_id, current)
    else:
        permissions.check_write(actor, permissions.Write(op, node_id, kind_before, kind_after, changes, current))
    _check_volume_values(kind_before, kind_after, after, changes)
    _check_agent_rules(node_id, kind_after, changes)
    return after, kind_before, kind_after


def check_write(node_id: str, changes: dict, actor: Actor | None, op: permissions.Op | None = None) -> None:
    """What writing `changes` to `node_id` would refuse (Forbidden, InvalidInput), without writing: forms use it
    to show the reason next to the field. The write itself checks again."""
    node = Node.objects.filter(node_id=node_id).first()
    if op is None:
        op = permissions.Op.CREATE if node is None else permissions.Op.UPDATE
    _judge_write(actor, op, node_id, node, changes)
