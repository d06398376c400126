"""Keywords of ``userlist`` sections: users and groups for HTTP basic authentication."""

from __future__ import annotations

from .context import Ctx, KeywordError
from .keywords import keyword


@keyword("user", "u", "<name> [password|insecure-password <pw>] [groups <g>[,<g>...]]", "a user of the list")
def kw_user(ctx: Ctx, words: list[str]) -> None:
    ul = ctx.userlist
    assert ul is not None
    if len(words) < 2:
        raise KeywordError("'user' expects <name> as arguments.", style="directive")
    name = words[1]
    if any(u["name"] == name for u in ul["users"]):
        ctx.warn(f"userlist '{ul['name']}': ignoring duplicated user '{name}'.")
        return
    user: dict = {"name": name, "password": None, "insecure": False, "groups": ()}
    i = 2
    while i < len(words):
        w = words[i]
        if w in ("password", "insecure-password", "groups") and i + 1 < len(words):
            if w == "groups":
                user["groups"] = tuple(g for g in words[i + 1].split(",") if g)
            else:
                user["password"] = words[i + 1]
                user["insecure"] = w == "insecure-password"
            i += 2
        else:
            raise KeywordError(
                f"'user' only supports 'password', 'insecure-password' and 'groups' (got '{w}').",
                style="directive",
            )
    ul["users"].append(user)


@keyword("group", "u", "<name> [users <u>[,<u>...]]", "a group of the list")
def kw_group(ctx: Ctx, words: list[str]) -> None:
    ul = ctx.userlist
    assert ul is not None
    if len(words) < 2:
        raise KeywordError("'group' expects <name> as arguments.", style="directive")
    members: tuple[str, ...] = ()
    if len(words) > 2:
        if words[2] != "users" or len(words) != 4:
            raise KeywordError(f"'group' only supports 'users' option (got '{words[2]}').", style="directive")
        members = tuple(u for u in words[3].split(",") if u)
    if words[1] in ul["groups"]:
        ctx.warn(f"userlist '{ul['name']}': ignoring duplicated group '{words[1]}'.")
        return
    ul["groups"][words[1]] = members
