// InfluxDB 1.x's /query for the statements that manage and describe data, so the v1
// clients and tools that call them before writing (the Python `influxdb` client's
// create_database / get_list_database, Telegraf's CREATE DATABASE at start) work:
//
//   CREATE DATABASE <name>          creates the database in the catalog (its limits and
//                                   the --partition-template default); an existing one
//                                   is not an error, as in InfluxDB
//   SHOW DATABASES                  series "databases", column "name"
//   SHOW MEASUREMENTS [ON <db>]     series "measurements", column "name"
//   SHOW TAG KEYS [ON <db>] [FROM <m>[, ...]]    a series per measurement, "tagKey"
//   SHOW FIELD KEYS [ON <db>] [FROM <m>[, ...]]  "fieldKey", "fieldType" (float,
//                                                integer, unsigned, string, boolean)
//   SHOW RETENTION POLICIES [ON <db>]  one: autogen, infinite duration, default
//
// Nothing else is answered: DROP is refused (this server never deletes), and any other
// statement (SELECT, ...) gets an error naming what is supported and where to read data
// (Arrow Flight, POST /api/v3/query; docs/reading.md). There is no partial query
// language. Statements are separated by ';'; as in InfluxDB, each gets a result with
// its statement_id, and after a failed statement the rest are "not executed".
//
// The reply is InfluxDB's: 200 {"results": [{"statement_id": 0, "series": [...]} |
// {"statement_id": 0, "error": "..."}]}, or 400 {"error": "..."} for a query that does
// not parse (an unterminated quote), a missing `q` or a bad `epoch`.
#pragma once

#include <string_view>

#include "ingester/server/configure_api.h"

namespace ingester {

class Ingester;

struct InfluxQueryRequest {
  std::string_view q;      // the statements
  std::string_view db;     // the `db` parameter: the database when ON is not given
  std::string_view epoch;  // "", h, m, s, ms, u, ns (validated; no time is returned)
};

HttpReply InfluxQuery(Ingester* ingester, const InfluxQueryRequest& request);

}  // namespace ingester
