package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

func TestRunCommands(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		wantOut string
		wantErr string
		usage   bool
	}{
		{args: []string{"version"}, wantOut: "sded "},
		{args: []string{"--version"}, wantOut: "sded "},
		{args: []string{"help"}, wantOut: "Commands:"},
		{args: []string{"config", "check"}, wantOut: "config ok"},
		{args: nil, wantErr: "no command given", usage: true},
		{args: []string{"frobnicate"}, wantErr: `unknown command "frobnicate"`, usage: true},
		{args: []string{"serve", "--bogus"}, wantErr: "flag provided but not defined", usage: true},
		{args: []string{"version", "extra"}, wantErr: "no arguments", usage: true},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), tc.args, &out, &errOut)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				var u *usageError
				if errors.As(err, &u) != tc.usage {
					t.Errorf("usage error = %v, want %v", !tc.usage, tc.usage)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), tc.wantOut) {
				t.Errorf("output %q lacks %q", out.String(), tc.wantOut)
			}
		})
	}
}
