"""v2 users: the bulk lookup."""

from __future__ import annotations

from .. import serialize_v2 as ser
from ..http import BadRequest, Ctx, Reply, v2_list
from ..routes import route


MAX_USERS_BULK = 250


@route("v2", "POST", "/users-bulk", "createBulkUserLookup")
def create_bulk_user_lookup(ctx: Ctx) -> Reply:
    account_ids = ctx.body.get("accountIds") if isinstance(ctx.body, dict) else None
    if not isinstance(account_ids, list) or not all(isinstance(a, str) for a in account_ids):
        raise BadRequest('The body must be {"accountIds": ["<accountId>", ...]}')
    if not 1 <= len(account_ids) <= MAX_USERS_BULK:
        raise BadRequest(f"'accountIds' must hold between 1 and {MAX_USERS_BULK} account ids; "
                         f"got {len(account_ids)}: split the lookup into batches")
    users = [ctx.ws.users[a] for a in dict.fromkeys(account_ids) if a in ctx.ws.users]
    return v2_list(ctx, users, ser.user_json, len(users) + 1, lambda u: {}, points_per_item=2)
