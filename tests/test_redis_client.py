"""REDIS_URL's two forms: one server, or a service behind Sentinels."""

import pytest
import redis
from redis.sentinel import SentinelConnectionPool

from security.redis_client import ConnectionPool, client_from_url, parse_sentinel_url


def test_a_sentinel_url_names_its_sentinels_service_database_and_passwords():
    target = parse_sentinel_url(
        "rediss+sentinel://:secret@h1:26380,[2001:db8::5],h3/mymaster/2?sentinel_password=s2"
    )
    assert target.sentinels == (("h1", 26380), ("2001:db8::5", 26379), ("h3", 26379))
    assert (target.service, target.db, target.password) == ("mymaster", 2, "secret")
    assert (target.sentinel_password, target.ssl) == ("s2", True)
    assert parse_sentinel_url("redis+sentinel://h1/mymaster").db == 0


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel:///mymaster",  # no Sentinel
        "redis+sentinel://h1:x/mymaster",  # a port that is not a number
        "redis+sentinel://h1/",  # no service
        "redis+sentinel://h1/mymaster/zero",  # a database that is not a number
        "redis+sentinel://h1/mymaster/0/extra",
    ],
)
def test_a_malformed_sentinel_url_is_refused_with_its_reason(url):
    with pytest.raises(ValueError, match="redis\\+sentinel"):
        client_from_url(url)


def test_both_forms_give_a_client_and_a_pool_for_djangos_cache():
    sentinel = "redis+sentinel://127.0.0.1:26379,127.0.0.2:26379/mymaster/3"
    pool = ConnectionPool.from_url(sentinel, socket_timeout=0.5)
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.service_name == "mymaster"
    assert pool.connection_kwargs["db"] == 3
    assert pool.connection_kwargs["socket_timeout"] == 0.5
    # The Sentinels are asked with the same time-outs as the servers.
    assert all(
        s.connection_pool.connection_kwargs["socket_timeout"] == 0.5
        for s in pool.sentinel_manager.sentinels
    )
    # A look-up that found no primary is not repeated at once; a broken connection is.
    assert all(
        s.connection_pool.connection_kwargs["retry"].get_retries() == 0
        for s in pool.sentinel_manager.sentinels
    )
    assert pool.connection_kwargs["retry"].get_retries() == 1
    plain = ConnectionPool.from_url("redis://127.0.0.1:6390/4")
    assert type(plain) is redis.ConnectionPool
    assert plain.connection_kwargs["db"] == 4
