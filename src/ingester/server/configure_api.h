// The HTTP configure API (InfluxDB 3 style), as functions from a request body to a
// reply, so http_server.cc only routes:
//
//   POST /api/v3/configure/database  {"db": "name", "partition_template": {...}}
//        201 created, 200 exists with that template, 409 exists with another
//   GET  /api/v3/configure/database
//        200 {"databases": [{"name": ..., "partition_template": {...}, "max_tables": N,
//             "max_columns_per_table": M}, ...]}
//   POST /api/v3/configure/table     {"db": ..., "table": ..., "partition_template":
//   {...},
//                                     "tags": ["a", ...]}
//        201 / 200 / 409 as above; 404 when the database does not exist
//
// "partition_template" is optional (a database then gets the --partition-template
// default, a table its database's); "tags" is optional. Errors are {"error": "..."}
// with 400 for a malformed body or template.
#pragma once

#include <string>
#include <string_view>

namespace ingester {

class Ingester;

struct HttpReply {
  int status = 200;
  std::string body;  // JSON
};

HttpReply ConfigureDatabase(Ingester* ingester, std::string_view body);
HttpReply ListDatabases(Ingester* ingester);
HttpReply ConfigureTable(Ingester* ingester, std::string_view body);

// {"error": message}, the house error body.
std::string JsonErrorBody(std::string_view message);

}  // namespace ingester
