package e2e

import (
	"testing"
	"time"

	"github.com/sded/sded/cluster/model"
)

func TestWorkstationLifecycle(t *testing.T) {
	h := newHost(t)
	d := newDaemon(t, h)
	d.setup()
	pa := d.addProject("alpha")
	wa := d.addWorkstation(pa.Slug, "alice-ws1")
	t.Logf("project %s subnet %s; workstation %s address %s", pa.Slug, pa.Subnet, wa.ID, wa.IP)
	d.waitStatus(pa.Slug, wa.ID, model.ObservedRunning, 90*time.Second)
	da := openDesktop(t, h, d, wa)
	da.run("echo hello >/dev/ttyS0", 10*time.Second)
}
