package seed

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func TestUserDataGolden(t *testing.T) {
	got, err := UserData(Personalisation{
		Hostname: "ws-1",
		Accounts: []Account{{Name: "alice", Gecos: "Alice \"Al\" Smith", Groups: []string{"users"}, Sudo: true},
			{Name: "bob", PasswordHash: "$6$salt$hash"}},
		Mounts: []Mount{{Serial: "data", Dir: "/mnt/data", ReadOnly: true}},
		Shares: []Share{{Tag: "sded-shared", Dir: "/mnt/shared"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join("testdata", "user-data.golden")
	if *update {
		os.MkdirAll("testdata", 0o755)
		os.WriteFile(p, got, 0o644)
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("reading golden file (run go test -update): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("user-data (-want +got):\n%s", diff)
	}
}

// TestUserDataBadInput: values that could break out of the YAML structure or
// name nonsense are refused.
func TestUserDataBadInput(t *testing.T) {
	tests := []struct {
		name    string
		p       Personalisation
		wantErr string
	}{
		{"bad hostname", Personalisation{Hostname: "a b"}, "hostname"},
		{"account with newline", Personalisation{Hostname: "h", Accounts: []Account{{Name: "a\nruncmd:"}}}, "account"},
		{"root-like upper case", Personalisation{Hostname: "h", Accounts: []Account{{Name: "Root"}}}, "account"},
		{"gecos newline", Personalisation{Hostname: "h", Accounts: []Account{{Name: "a", Gecos: "x\ny"}}}, "gecos"},
		{"bad group", Personalisation{Hostname: "h", Accounts: []Account{{Name: "a", Groups: []string{"sudo group"}}}}, "group"},
		{"mount relative", Personalisation{Hostname: "h", Mounts: []Mount{{Serial: "s", Dir: "mnt"}}}, "dir"},
		{"mount root", Personalisation{Hostname: "h", Mounts: []Mount{{Serial: "s", Dir: "/"}}}, "dir"},
		{"mount serial", Personalisation{Hostname: "h", Mounts: []Mount{{Serial: "../sda", Dir: "/mnt"}}}, "serial"},
		{"share tag", Personalisation{Hostname: "h", Shares: []Share{{Tag: "a'b", Dir: "/mnt"}}}, "tag"},
		{"share dir quote", Personalisation{Hostname: "h", Shares: []Share{{Tag: "t", Dir: "/mnt/a'b"}}}, "dir"},
		{"share dir space", Personalisation{Hostname: "h", Shares: []Share{{Tag: "t", Dir: "/mnt/a b"}}}, "dir"},
		{"share dir root", Personalisation{Hostname: "h", Shares: []Share{{Tag: "t", Dir: "/"}}}, "dir"},
		{"share dir unclean", Personalisation{Hostname: "h", Shares: []Share{{Tag: "t", Dir: "/mnt/../etc"}}}, "dir"},
		{"mount fs", Personalisation{Hostname: "h", Mounts: []Mount{{Serial: "s", Dir: "/mnt", FSType: "ext4,exec"}}}, "filesystem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := UserData(tt.p)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("UserData = %v, want an error about %s", err, tt.wantErr)
			}
		})
	}
}
