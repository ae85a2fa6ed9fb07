"""Persistence seen from outside: SIGTERM persists everything; DuckDB reads the files."""
import duckdb

from conftest import wal_inspect


def test_sigterm_persists_deduplicated_sorted_parquet_read_by_duckdb(make_server):
    server = make_server().start()
    body = (
        "cpu,host=b,region=eu usage=1.0,count=1i 1700000000000000000\n"
        "cpu,host=a,region=eu usage=2.0,count=2i 1700000000000000000\n"
        "cpu,host=a,region=eu usage=3.0 1700000001000000000\n"
    )
    assert server.write(body, db="p").status_code == 204
    # Same primary key (tags + time) as the second line: the later write wins field by
    # field, and a field it does not carry keeps the earlier value.
    assert server.write("cpu,host=a,region=eu usage=9.0 1700000000000000000\n",
                        db="p").status_code == 204
    assert server.stop() == 0  # SIGTERM: persist all, wait for the WAL to empty, exit 0
    assert "shutdown complete" in server.log()
    assert wal_inspect(server.wal_dir)["rows"] == 0

    files = sorted((server.data_dir / "objects").glob("*/*/*/*.parquet"))
    assert len(files) == 1
    con = duckdb.connect()
    got = con.execute(
        "SELECT host, region, usage, count, epoch_ns(time) FROM read_parquet(?) ",
        [str(files[0])]).fetchall()
    # Sorted by the sort key (tags by ascending cardinality, then time).
    assert got == [
        ("a", "eu", 9.0, 2, 1700000000000000000),
        ("a", "eu", 3.0, None, 1700000001000000000),
        ("b", "eu", 1.0, 1, 1700000000000000000),
    ]
    meta = con.execute("SELECT key, value FROM parquet_kv_metadata(?)", [str(files[0])]).fetchall()
    keys = {k.decode() if isinstance(k, bytes) else k for k, _ in meta}
    assert any("partition" in k for k in keys), keys

    # The catalog lists the file; the next start has nothing to replay.
    server.start()
    assert server.persisted_rows("p", "cpu") == 3
    assert server.buffered_rows("p", "cpu") == 0
