"""End-to-end smoke: log in and read /me."""

from tests.support.builders import auth_headers, make_team, make_user


async def test_login_and_me(client, uow_factory):
    team = await make_team(uow_factory)
    rep = await make_user(uow_factory, role="rep", team=team)
    headers = await auth_headers(client, rep)
    response = await client.get("/api/v1/me", headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(rep.id)
    assert body["role"] == "rep"
    assert body["team_id"] == str(team.id)
    assert response.headers["etag"] == '"1"'


async def test_rolled_back_between_tests(client, uow_factory):
    async with uow_factory() as uow:
        assert not await uow.users.any_exists()
