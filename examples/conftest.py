import pytest


@pytest.fixture(scope="module")
def vcr_config():
    """pytest-recording's settings for the API cassettes: your own filters.

    pytest-barapi adds its own to them: no cassette keeps the Authorization header.
    """
    return {"filter_headers": ["cookie"], "decode_compressed_response": True}
