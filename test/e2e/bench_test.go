package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/sded/sded/cluster/model"
)

// BenchmarkWorkstationStart is issue 6 item 9: the time from the API call
// (`sded workstation add` through the local API) to the workstation's domain
// running, p50 over 10 workstations, beside the raw path doing the same
// work by hand: `qemu-img create` of the same encrypted overlay, then one
// virsh process that sets the three disk secrets and `virsh create`s the
// same domain XML (sded's, from `virsh dumpxml --inactive`, renamed). A third
// path creates the same domain with unencrypted disks: the difference is what
// unlocking the three LUKS volumes costs per start.
//
// Target: sded adds at most 10% or 300 ms over the raw path, whichever is
// larger. Each sample's domain is removed before the next, so boots do not
// overlap; the project (network, key, shared folder and data volume) is made by a
// warm-up workstation that is not counted.
func BenchmarkWorkstationStart(b *testing.B) {
	const n = 10 // samples per path (issue 6: p50 over 10 workstations); about 4-5 minutes under TCG
	h := newHost(b)
	d := newDaemon(b, h)
	d.setup()
	p := d.addProject("bench")
	warm := d.addWorkstation(p.Slug, "warm-up")
	d.waitStatus(p.Slug, warm.ID, model.ObservedRunning, 180*time.Second)
	forceDelete(b, h, d, p.Slug, warm.ID)

	conn, err := libvirt.NewConnect(h.uri)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	img := imagePath(b, d)
	raw := newRawPath(b, h, img)

	var sdedT, rawT, plainT, rawImgT, plainImgT []time.Duration
	for range b.N {
		for i := range n {
			t0 := time.Now()
			w := d.addWorkstation(p.Slug, fmt.Sprintf("bench-%d", i))
			dom := "sded-" + w.ID
			waitRunning(b, conn, dom)
			sdedT = append(sdedT, time.Since(t0))
			xml := h.mustVirsh("dumpxml", "--inactive", dom)
			seed := filepath.Join(h.dir, fmt.Sprintf("seed-%d.img", i))
			run(b, "cp", filepath.Join(d.data, "seeds", w.ID+".img"), seed)
			forceDelete(b, h, d, p.Slug, w.ID)

			ti, tc := raw.start(b, xml, seed, i, true)
			rawImgT, rawT = append(rawImgT, ti), append(rawT, ti+tc)
			ti, tc = raw.start(b, xml, seed, i, false)
			plainImgT, plainT = append(plainImgT, ti), append(plainT, ti+tc)
		}
	}
	s, r, pl := p50(sdedT), p50(rawT), p50(plainT)
	over := s - r
	allowed := max(r/10, 300*time.Millisecond)
	unlock := (r - p50(rawImgT)) - (pl - p50(plainImgT))
	b.ReportMetric(ms(s), "sded-ms/start")
	b.ReportMetric(ms(r), "raw-ms/start")
	b.ReportMetric(float64(s)/float64(r), "sded/raw")
	b.ReportMetric(ms(unlock), "luks-unlock-ms/start")
	var t strings.Builder
	fmt.Fprintf(&t, "\nworkstation start, API call to domain running (TCG, %d samples per path, p50)\n", len(sdedT))
	fmt.Fprintf(&t, "%-48s %10s   samples\n", "path", "p50")
	fmt.Fprintf(&t, "%-48s %10s   %v\n", "sded: workstation add -> domain running", s.Round(time.Millisecond), rounded(sdedT))
	fmt.Fprintf(&t, "%-48s %10s   %v\n", "raw: qemu-img create + virsh secrets + create", r.Round(time.Millisecond), rounded(rawT))
	fmt.Fprintf(&t, "%-48s %10s   %v\n", "  of which qemu-img create (LUKS overlay)", p50(rawImgT).Round(time.Millisecond), rounded(rawImgT))
	fmt.Fprintf(&t, "%-48s %10s   %v\n", "raw, unencrypted disks", pl.Round(time.Millisecond), rounded(plainT))
	fmt.Fprintf(&t, "%-48s %10s   %v\n", "  of which qemu-img create (plain overlay)", p50(plainImgT).Round(time.Millisecond), rounded(plainImgT))
	fmt.Fprintf(&t, "ratio sded/raw %.2f; sded adds %s (target <= %s): %s\n", float64(s)/float64(r), over.Round(time.Millisecond), allowed.Round(time.Millisecond), verdict(over <= allowed))
	fmt.Fprintf(&t, "LUKS unlock of 2 volumes per start (secrets + key derivation, encrypted minus plain create): %s\n", unlock.Round(time.Millisecond))
	b.Log(t.String())
	fmt.Print(t.String())
}

func verdict(ok bool) string {
	if ok {
		return "MET"
	}
	return "NOT MET"
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func p50(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func rounded(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}

// deleteWorkstation deletes a workstation and waits until it is gone.
func deleteWorkstation(t testing.TB, d *daemon, project, id string) {
	t.Helper()
	_, _ = d.cli("workstation", "delete", "--as", "alice", id) // may be asked already
	waitFor(t, 60*time.Second, "workstation "+id+" to be deleted", func() error {
		if _, ok, err := d.workstation(project, id); err != nil || ok {
			return fmt.Errorf("still listed (err %v)", err)
		}
		return nil
	})
}

// forceDelete deletes a workstation whose guest is still booting: sded
// stops a domain gracefully (ACPI, then forced after 30 s), and a guest that
// has not started acpid yet never answers, so the test pulls the plug.
func forceDelete(t testing.TB, h *host, d *daemon, project, id string) {
	t.Helper()
	d.must("workstation", "delete", "--as", "alice", id)
	time.Sleep(200 * time.Millisecond)
	_, _ = h.virsh("destroy", "sded-"+id)
	deleteWorkstation(t, d, project, id)
}

// waitRunning polls libvirt every 5 ms until the domain runs.
func waitRunning(t testing.TB, conn *libvirt.Connect, name string) {
	t.Helper()
	end := time.Now().Add(120 * time.Second)
	for time.Now().Before(end) {
		if dom, err := conn.LookupDomainByName(name); err == nil {
			st, _, err := dom.GetState()
			dom.Free()
			if err == nil && st == libvirt.DOMAIN_RUNNING {
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("domain %s did not run within 120 s", name)
}

// imagePath is the registered test-guest image sded made overlays of.
func imagePath(t testing.TB, d *daemon) string {
	t.Helper()
	var imgs []model.Image
	decode(t, d.must("image", "list", "--as", "admin", "--json"), &imgs)
	for _, i := range imgs {
		if i.Name == "test-guest" {
			return i.Path
		}
	}
	t.Fatal("no test-guest image")
	return ""
}

// rawPath starts sded's domain by hand. Its data volumes are its own (made
// once, untimed), encrypted and plain, of the size sded uses; the shared
// folder (a virtiofs share of a directory) is sded's, as in the XML.
type rawPath struct {
	h               *host
	dir, base       string
	dataLUKS, dataP string
	pass            map[string]string // volume path -> passphrase
}

func newRawPath(t testing.TB, h *host, base string) *rawPath {
	t.Helper()
	r := &rawPath{h: h, dir: filepath.Join(h.dir, "raw"), base: base, pass: map[string]string{}}
	if err := os.MkdirAll(r.dir, 0o711); err != nil {
		t.Fatal(err)
	}
	os.Chmod(r.dir, 0o711)
	r.dataLUKS, r.dataP = filepath.Join(r.dir, "data.qcow2"), filepath.Join(r.dir, "data-plain.qcow2")
	for _, v := range []struct {
		path, size string
		luks       bool
	}{{r.dataLUKS, "64M", true}, {r.dataP, "64M", false}} {
		args := []string{"create", "-q", "-f", "qcow2"}
		if v.luks {
			r.pass[v.path] = randHex(32)
			args = append(args, "--object", "secret,id=sec0,data="+r.pass[v.path], "-o", "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10")
		}
		run(t, "qemu-img", append(args, v.path, v.size)...)
	}
	return r
}

// start creates the overlay and starts sded's domain from xml with the
// raw path's volumes, encrypted or not, and returns the time qemu-img took
// and the time virsh took (secrets and create, until running). The domain
// is destroyed afterwards.
func (r *rawPath) start(t testing.TB, xml, seed string, i int, luks bool) (img, create time.Duration) {
	t.Helper()
	var dom libvirtxml.Domain
	if err := dom.Unmarshal(xml); err != nil {
		t.Fatal(err)
	}
	kind := "plain"
	if luks {
		kind = "luks"
	}
	dom.Name = fmt.Sprintf("e2e-raw-%s-%d", kind, i)
	dom.UUID, dom.Metadata, dom.Description = "", nil, "test/e2e raw path"
	overlay := filepath.Join(r.dir, fmt.Sprintf("ws-%s-%d.qcow2", kind, i))
	vols := []string{overlay, r.dataP, seed}
	if luks {
		vols[1] = r.dataLUKS
		r.pass[overlay] = randHex(32)
	}
	var batch []string
	for k := range dom.Devices.Disks {
		disk := &dom.Devices.Disks[k]
		if k >= len(vols) || disk.Source == nil || disk.Source.File == nil {
			t.Fatalf("unexpected disk %d in sded's domain XML", k)
		}
		disk.Source.File.File = vols[k]
		if disk.Source.Encryption == nil {
			continue
		}
		if !luks {
			disk.Source.Encryption = nil
			continue
		}
		uuid := newUUID()
		disk.Source.Encryption.Secrets[0].UUID = uuid
		sx := fmt.Sprintf(`<secret ephemeral='yes' private='yes'><uuid>%s</uuid><usage type='volume'><volume>e2e-raw-%s</volume></usage></secret>`, uuid, uuid)
		sf := filepath.Join(r.dir, uuid+".xml")
		if err := os.WriteFile(sf, []byte(sx), 0o600); err != nil {
			t.Fatal(err)
		}
		pf := filepath.Join(r.dir, uuid+".pass")
		if err := os.WriteFile(pf, []byte(r.pass[vols[k]]), 0o600); err != nil {
			t.Fatal(err)
		}
		batch = append(batch, "secret-define "+sf, fmt.Sprintf("secret-set-value %s --file %s --plain", uuid, pf))
		defer r.h.virsh("secret-undefine", uuid)
	}
	for k := range dom.Devices.Serials {
		if dom.Devices.Serials[k].Log != nil {
			dom.Devices.Serials[k].Log.File = filepath.Join(r.dir, dom.Name+".serial.log")
		}
	}
	out, err := dom.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	df := filepath.Join(r.dir, dom.Name+".xml")
	if err := os.WriteFile(df, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	batch = append(batch, "create "+df)

	args := []string{"create", "-q", "-f", "qcow2", "-b", r.base, "-F", "qcow2"}
	if luks {
		args = append(args, "--object", "secret,id=sec0,data="+r.pass[overlay], "-o", "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10")
	}
	// qemu-img's key-derivation calibration fails now and then on a busy
	// host ("Unable to get accurate CPU usage"); sded retries it as well.
	for attempt := 1; ; attempt++ {
		t0 := time.Now()
		o, err := exec.Command("qemu-img", append(args, overlay, "1G")...).CombinedOutput()
		img = time.Since(t0)
		if err == nil {
			break
		}
		if attempt == 3 || !strings.Contains(string(o), "accurate CPU usage") {
			t.Fatalf("qemu-img create: %v: %s", err, o)
		}
	}
	t1 := time.Now()
	if _, err := r.h.virsh(strings.Join(batch, " ; ")); err != nil {
		t.Fatal(err)
	}
	create = time.Since(t1)
	if _, err := r.h.virsh("destroy", dom.Name); err != nil {
		t.Fatal(err)
	}
	os.Remove(overlay)
	return img, create
}

func newUUID() string {
	b := randHex(16)
	return fmt.Sprintf("%s-%s-4%s-a%s-%s", b[0:8], b[8:12], b[13:16], b[17:20], b[20:32])
}
