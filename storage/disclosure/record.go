package disclosure

import (
	"encoding/json"
	"slices"
)

// RecordVersion is the version of the Record format.
const RecordVersion = 1

// Record is the machine-readable disclosure record of one airlock request.
type Record struct {
	Version int          `json:"version"`
	Request string       `json:"request"`
	Rules   Rules        `json:"rules"`
	Status  string       `json:"status"` // review if any file needs review or errored, else fail, else pass
	Files   []FileRecord `json:"files"`
}

// NewRecord combines the files' records.
func NewRecord(request string, rules Rules, files []FileRecord) Record {
	st := Pass
	var all []string
	for _, f := range files {
		all = append(all, f.Status)
	}
	switch {
	case slices.Contains(all, Review), slices.Contains(all, Error):
		st = Review
	case slices.Contains(all, Fail):
		st = Fail
	}
	return Record{Version: RecordVersion, Request: request, Rules: rules, Status: st, Files: files}
}

// JSON encodes the record, indented for humans and stable for diffs.
func (r Record) JSON() ([]byte, error) { return json.MarshalIndent(r, "", "  ") }
