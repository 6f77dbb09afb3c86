def test_download(barapi_session, barapi_mask):
    url = barapi_session.post("/v1/reports").json()["signed_url"]
    barapi_mask(url)  # from now on, for the rest of the run
    print("fetching", url)  # shows as: fetching ********
