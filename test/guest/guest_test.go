package guest

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name   string
		serial string
		want   Report
	}{
		{"nothing yet", "booting\n", Report{RC: -1, Results: map[string]string{}}},
		{"running", "x\r\nSDED-PROBE-BEGIN\r\nhello\r\nSDED-PROBE-RESULT a=1\r\n",
			Report{RC: -1, Results: map[string]string{"a": "1"}, Output: "hello\nSDED-PROBE-RESULT a=1\n"}},
		{"done", "SDED-PROBE-BEGIN\nSDED-PROBE-RESULT a=b=c\nSDED-PROBE-RESULT empty=\nSDED-PROBE-END rc=3\nSDED-PROBE-RESULT late=1\n",
			Report{Done: true, RC: 3, Results: map[string]string{"a": "b=c", "empty": ""}, Output: "SDED-PROBE-RESULT a=b=c\nSDED-PROBE-RESULT empty=\n"}},
		{"result outside markers ignored", "SDED-PROBE-RESULT x=1\n", Report{RC: -1, Results: map[string]string{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Parse([]byte(tt.serial))); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSeedConfig(t *testing.T) {
	c := Probe{Script: "result a 1\n", Stay: true, Net: "static", Addr: "10.0.0.2/24", Gateway: "10.0.0.1"}.SeedConfig("i-1", "h1")
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	want := "SDED_MODE=stay\nSDED_NET=static\nSDED_IP=10.0.0.2/24\nSDED_GW=10.0.0.1\n"
	if got := string(c.Files["sded-env"]); got != want {
		t.Errorf("sded-env = %q, want %q", got, want)
	}
}
