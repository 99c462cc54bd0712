package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/psync-dev/psync/pkg/sandbox"
)

// getDump reads GET /v1/_sandbox/dump of the key's team.
func getDump(baseURL, key string) (sandbox.Dump, error) {
	req, err := http.NewRequest("GET", baseURL+"/_sandbox/dump", nil)
	if err != nil {
		return sandbox.Dump{}, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return sandbox.Dump{}, fmt.Errorf("dump: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return sandbox.Dump{}, fmt.Errorf("dump: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return sandbox.Dump{}, fmt.Errorf("dump: %s: %s", resp.Status, data)
	}
	var d sandbox.Dump
	if err := json.Unmarshal(data, &d); err != nil {
		return sandbox.Dump{}, fmt.Errorf("dump: %w", err)
	}
	return d, nil
}
