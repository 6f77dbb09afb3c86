def test_me(barapi_session):
    response = barapi_session.get("/v1/me")  # <url>/v1/me, with the bearer token
    assert response.status_code == 200
