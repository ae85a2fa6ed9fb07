// Writes line protocol with the official influxdb-client-go/v2 blocking write API and
// prints one JSON line: {"ok": true} or {"ok": false, "error": err.Error(),
// "statusCode", "code", "message"} as the client reports the failure, which
// tests/test_client_libraries.py asserts on.
//
// usage: go run . URL TOKEN BUCKET  (line protocol on stdin)
package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api/http"
)

func main() {
	url, token, bucket := os.Args[1], os.Args[2], os.Args[3]
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		panic(err)
	}
	var lines []string
	for _, line := range strings.Split(string(input), "\n") {
		if line != "" {
			lines = append(lines, line)
		}
	}
	client := influxdb2.NewClientWithOptions(url, token,
		influxdb2.DefaultOptions().SetHTTPRequestTimeout(10).SetMaxRetries(0))
	defer client.Close()
	out := map[string]any{"ok": true}
	if err := client.WriteAPIBlocking("any-org", bucket).WriteRecord(context.Background(), lines...); err != nil {
		out = map[string]any{"ok": false, "error": err.Error()}
		var httpErr *http.Error
		if errors.As(err, &httpErr) {
			out["statusCode"] = httpErr.StatusCode
			out["code"] = httpErr.Code
			out["message"] = httpErr.Message
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		panic(err)
	}
}
