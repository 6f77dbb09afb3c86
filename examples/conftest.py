import pytest


@pytest.fixture(scope="module")
def vcr_config():
    """pytest-recording's settings for the API cassettes: your own filters.

    pytest-barapi leaves them as they are, and replaces its own secrets in every cassette:
    the bearer token is recorded as ``placeholder-access-token``, which the replay sends.
    """
    return {"filter_headers": ["cookie"], "decode_compressed_response": True}
