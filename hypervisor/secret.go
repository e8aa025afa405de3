package hypervisor

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"
)

// secretDescription marks the libvirt secrets sded owns (with the usage prefix).
const secretDescription = "managed by sded"

var usageRE = regexp.MustCompile(`^sded-[A-Za-z0-9._-]{1,120}$`)

// SetSecret defines (or redefines) the libvirt secret uuid as ephemeral and
// private (never written to disk, never readable back through libvirt) with
// usage (a "volume" usage ID starting with NamePrefix) and sets its value.
// Ephemeral secrets vanish when libvirtd restarts, so callers set them again
// before every start. The value is never logged.
func (d *Driver) SetSecret(ctx context.Context, uuid, usage string, value []byte) error {
	if !uuidRE.MatchString(uuid) {
		return fmt.Errorf("secret uuid %q: want a lower-case canonical UUID", uuid)
	}
	if !usageRE.MatchString(usage) {
		return fmt.Errorf("secret %s: usage %q: want %q followed by 1-120 of letters, digits, '.', '_', '-'", uuid, usage, NamePrefix)
	}
	if len(value) == 0 {
		return fmt.Errorf("secret %s: empty value", uuid)
	}
	x, err := (&libvirtxml.Secret{
		Ephemeral: "yes", Private: "yes", UUID: uuid, Description: secretDescription,
		Usage: &libvirtxml.SecretUsage{Type: "volume", Volume: usage},
	}).Marshal()
	if err != nil {
		return fmt.Errorf("rendering secret %s: %w", uuid, err)
	}
	return d.do(ctx, func(c *libvirt.Connect) error {
		if old, err := c.LookupSecretByUUIDString(uuid); err == nil {
			oldUsage, _ := old.GetUsageID()
			if !strings.HasPrefix(oldUsage, NamePrefix) {
				old.Free()
				return fmt.Errorf("secret %s: %w (usage %q)", uuid, ErrNotOwned, oldUsage)
			}
			if oldUsage != usage {
				// libvirt refuses to change a secret's usage: replace it.
				if err := old.Undefine(); err != nil {
					old.Free()
					return fmt.Errorf("replacing secret %s: %w", uuid, lv(err))
				}
			}
			old.Free()
		}
		sec, err := c.SecretDefineXML(x, 0)
		if err != nil {
			return fmt.Errorf("defining secret %s: %w", uuid, lv(err))
		}
		defer sec.Free()
		if err := sec.SetValue(value, 0); err != nil {
			return fmt.Errorf("setting value of secret %s: %w", uuid, lv(err))
		}
		return nil
	})
}

// RemoveSecret undefines sded's secret uuid; a missing one is a no-op and a
// secret sded does not own gives ErrNotOwned.
func (d *Driver) RemoveSecret(ctx context.Context, uuid string) error {
	if !uuidRE.MatchString(uuid) {
		return fmt.Errorf("secret uuid %q: want a lower-case canonical UUID", uuid)
	}
	return d.do(ctx, func(c *libvirt.Connect) error {
		sec, err := c.LookupSecretByUUIDString(uuid)
		if isCode(err, libvirt.ERR_NO_SECRET) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("looking up secret %s: %w", uuid, lv(err))
		}
		defer sec.Free()
		if usage, _ := sec.GetUsageID(); !strings.HasPrefix(usage, NamePrefix) {
			return fmt.Errorf("secret %s: %w (usage %q)", uuid, ErrNotOwned, usage)
		}
		if err := sec.Undefine(); err != nil && !isCode(err, libvirt.ERR_NO_SECRET) {
			return fmt.Errorf("removing secret %s: %w", uuid, lv(err))
		}
		return nil
	})
}

// Secrets lists the UUIDs of sded's secrets (usage starting with NamePrefix).
func (d *Driver) Secrets(ctx context.Context) ([]string, error) {
	var out []string
	err := d.do(ctx, func(c *libvirt.Connect) error {
		out = out[:0]
		secs, err := c.ListAllSecrets(0)
		if err != nil {
			return fmt.Errorf("listing secrets: %w", lv(err))
		}
		for i := range secs {
			if usage, err := secs[i].GetUsageID(); err == nil && strings.HasPrefix(usage, NamePrefix) {
				if uuid, err := secs[i].GetUUIDString(); err == nil {
					out = append(out, uuid)
				}
			}
			secs[i].Free()
		}
		return nil
	})
	return out, err
}
