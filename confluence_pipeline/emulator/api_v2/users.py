"""v2 users: the bulk lookup, and the user JSON."""

from __future__ import annotations

from typing import Any

from ..http import BadRequest, Ctx, Reply, v2_list
from ..model import User
from ..routes import route


MAX_USERS_BULK = 250


def user_json(user: User) -> dict[str, Any]:
    out = {
        "accountId": user.account_id,
        "accountType": user.account_type,
        "accountStatus": user.account_status,
        "displayName": user.display_name,
        "publicName": user.public_name,
        "email": user.email if user.email_visible else "",
        "timeZone": user.time_zone,
        "personalSpaceId": user.personal_space_id,
        "isExternalCollaborator": user.is_external_collaborator,
        "profilePicture": {"path": f"/wiki/aa-avatar/{user.account_id}", "isDefault": False},
    }
    if user.personal_space_id is None:
        del out["personalSpaceId"]  # the spec's string is not nullable; a user without one has no key
    return out


@route("v2", "POST", "/users-bulk", "createBulkUserLookup")
def create_bulk_user_lookup(ctx: Ctx) -> Reply:
    account_ids = ctx.body.get("accountIds") if isinstance(ctx.body, dict) else None
    if not isinstance(account_ids, list) or not all(isinstance(a, str) for a in account_ids):
        raise BadRequest('The body must be {"accountIds": ["<accountId>", ...]}')
    if not 1 <= len(account_ids) <= MAX_USERS_BULK:
        raise BadRequest(f"'accountIds' must hold between 1 and {MAX_USERS_BULK} account ids; "
                         f"got {len(account_ids)}: split the lookup into batches")
    users = [ctx.ws.users[a] for a in dict.fromkeys(account_ids) if a in ctx.ws.users]
    return v2_list(ctx, users, user_json, len(users) + 1, lambda u: {}, points_per_item=2)
