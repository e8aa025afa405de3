package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sded/sded/cluster"
	"github.com/sded/sded/cluster/fsm"
	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/cluster/state"
)

// sub describes one action of a command group such as `sded user add`.
type sub struct {
	name, usage string
	run         func(ctx context.Context, c *localClient, fs *flag.FlagSet, as string, out io.Writer) error
	flags       func(fs *flag.FlagSet)
	args        int // positional arguments required
}

// runGroup dispatches `sded GROUP ACTION [flags] ARGS...` to the local API.
func runGroup(group string, subs []sub) func(context.Context, []string, io.Writer, io.Writer) error {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		names := make([]string, len(subs))
		for i, s := range subs {
			names[i] = s.name
		}
		if len(args) == 0 {
			return usagef("usage: sded %s {%s} ...", group, strings.Join(names, "|"))
		}
		for _, s := range subs {
			if s.name != args[0] {
				continue
			}
			fs, cfgPath := newFlags(group+" "+s.name, group+" "+s.usage, stderr)
			as := fs.String("as", "", "admin account the action is recorded under")
			asJSON := fs.Bool("json", false, "print the result as JSON")
			if s.flags != nil {
				s.flags(fs)
			}
			if err := parseFlags(fs, args[1:]); err != nil {
				return helpOK(err)
			}
			if fs.NArg() != s.args {
				return usagef("usage: sded %s %s", group, s.usage)
			}
			cfg, err := loadConfigFlag(*cfgPath)
			if err != nil {
				return err
			}
			c, err := newLocalClient(cfg)
			if err != nil {
				return err
			}
			out := stdout
			if *asJSON {
				out = jsonOnly{stdout}
			}
			return s.run(ctx, c, fs, *as, out)
		}
		return usagef("unknown action %q for %s: want one of %s", args[0], group, strings.Join(names, ", "))
	}
}

// jsonOnly marks an output that wants JSON.
type jsonOnly struct{ io.Writer }

// printResult prints v as JSON, or with text for humans.
func printResult(out io.Writer, v any, text func(w io.Writer)) error {
	if j, ok := out.(jsonOnly); ok {
		enc := json.NewEncoder(j.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	text(tw)
	return tw.Flush()
}

func str(fs *flag.FlagSet, name string) string { return fs.Lookup(name).Value.String() }

// readPassword reads a password from a file, or stdin for "-".
func readPassword(path string) (string, error) {
	var r io.Reader
	if path == "-" {
		r = os.Stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return "", fmt.Errorf("reading password: %w", err)
		}
		defer f.Close()
		r = f
	}
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading password: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

var userCommands = []sub{
	{name: "add", usage: "add [--admin] [--name NAME] [--email EMAIL] --password-file FILE|- USERNAME", args: 1,
		flags: func(fs *flag.FlagSet) {
			fs.Bool("admin", false, "make the user a platform admin")
			fs.String("name", "", "display name (default: the user name)")
			fs.String("email", "", "e-mail address")
			fs.String("password-file", "-", "file holding the initial password, or - for standard input")
		},
		run: func(ctx context.Context, c *localClient, fs *flag.FlagSet, as string, out io.Writer) error {
			pw, err := readPassword(str(fs, "password-file"))
			if err != nil {
				return err
			}
			name := str(fs, "name")
			if name == "" {
				name = fs.Arg(0)
			}
			var u model.User
			err = c.call(ctx, "/v1/user/add", map[string]any{"as": as, "Username": fs.Arg(0), "DisplayName": name,
				"Email": str(fs, "email"), "Admin": str(fs, "admin") == "true", "Password": pw}, &u)
			if err != nil {
				return err
			}
			return printResult(out, u, func(w io.Writer) {
				fmt.Fprintf(w, "created user %s (id %s, admin %v); they enrol two-factor authentication at first login\n", u.Username, u.ID, u.Admin)
			})
		}},
	{name: "list", usage: "list --as ADMIN", run: func(ctx context.Context, c *localClient, _ *flag.FlagSet, as string, out io.Writer) error {
		var us []model.User
		if err := c.call(ctx, "/v1/user/list", map[string]any{"as": as}, &us); err != nil {
			return err
		}
		return printResult(out, us, func(w io.Writer) {
			fmt.Fprintln(w, "USERNAME\tNAME\tADMIN\tDISABLED\tTOTP")
			for _, u := range us {
				fmt.Fprintf(w, "%s\t%s\t%v\t%v\t%v\n", u.Username, u.DisplayName, u.Admin, u.Disabled, u.TOTPEnrolled)
			}
		})
	}},
	{name: "disable", usage: "disable --as ADMIN USERNAME", args: 1, run: userDisable(true)},
	{name: "enable", usage: "enable --as ADMIN USERNAME", args: 1, run: userDisable(false)},
	{name: "reset-password", usage: "reset-password --as ADMIN --password-file FILE|- USERNAME", args: 1,
		flags: func(fs *flag.FlagSet) {
			fs.String("password-file", "-", "file holding the new password, or - for standard input")
		},
		run: func(ctx context.Context, c *localClient, fs *flag.FlagSet, as string, out io.Writer) error {
			pw, err := readPassword(str(fs, "password-file"))
			if err != nil {
				return err
			}
			if err := c.call(ctx, "/v1/user/password", map[string]any{"as": as, "Username": fs.Arg(0), "Password": pw}, nil); err != nil {
				return err
			}
			fmt.Fprintf(out, "password of %s reset\n", fs.Arg(0))
			return nil
		}},
}

func userDisable(disabled bool) func(context.Context, *localClient, *flag.FlagSet, string, io.Writer) error {
	return func(ctx context.Context, c *localClient, fs *flag.FlagSet, as string, out io.Writer) error {
		if err := c.call(ctx, "/v1/user/disable", map[string]any{"as": as, "Username": fs.Arg(0), "Disabled": disabled}, nil); err != nil {
			return err
		}
		fmt.Fprintf(out, "user %s disabled=%v (sessions ended)\n", fs.Arg(0), disabled)
		return nil
	}
}

var projectCommands = []sub{
	{name: "add", usage: "add --as ADMIN --name NAME --approval REF --dsa REF --expires YYYY-MM-DD [--tier N] [--owner USER]... SLUG", args: 1,
		flags: func(fs *flag.FlagSet) {
			fs.String("name", "", "project name")
			fs.String("approval", "", "data access committee approval reference")
			fs.String("dsa", "", "data-sharing agreement reference")
			fs.String("starts", "", "start date YYYY-MM-DD (default today)")
			fs.String("expires", "", "expiry date YYYY-MM-DD (the project is suspended then)")
			fs.Int("tier", 2, "security tier 0-4")
			fs.Int("vcpu", 16, "quota: virtual CPUs")
			fs.Int("memory-mib", 65536, "quota: memory in MiB")
			fs.Int("disk-gib", 500, "quota: disk in GiB")
			fs.Int("workstations", 10, "quota: workstations")
			fs.Bool("isolate", false, "block traffic between the project's workstations")
			fs.Var(&listFlag{}, "owner", "user name of a project owner (repeatable)")
		},
		run: func(ctx context.Context, c *localClient, fs *flag.FlagSet, as string, out io.Writer) error {
			starts := time.Now().UTC().Truncate(24 * time.Hour)
			if s := str(fs, "starts"); s != "" {
				t, err := time.Parse(time.DateOnly, s)
				if err != nil {
					return usagef("--starts %q: want YYYY-MM-DD", s)
				}
				starts = t
			}
			exp, err := time.Parse(time.DateOnly, str(fs, "expires"))
			if err != nil {
				return usagef("--expires %q: want YYYY-MM-DD", str(fs, "expires"))
			}
			var n [5]int
			for i, k := range []string{"tier", "vcpu", "memory-mib", "disk-gib", "workstations"} {
				fmt.Sscan(str(fs, k), &n[i])
			}
			cp := model.CreateProject{Slug: fs.Arg(0), Name: str(fs, "name"), ApprovalRef: str(fs, "approval"), DSARef: str(fs, "dsa"),
				StartsAt: starts, ExpiresAt: exp, Tier: n[0], Quota: model.Quota{VCPU: n[1], MemoryMiB: n[2], DiskGiB: n[3], Workstations: n[4]},
				Network: model.NetworkSettings{IsolateWorkstations: str(fs, "isolate") == "true"}}
			req := map[string]any{"as": as, "owner_names": []string(*fs.Lookup("owner").Value.(*listFlag))}
			b, _ := json.Marshal(cp)
			_ = json.Unmarshal(b, &req)
			var p model.Project
			if err := c.call(ctx, "/v1/project/add", req, &p); err != nil {
				return err
			}
			return printResult(out, p, func(w io.Writer) {
				fmt.Fprintf(w, "created project %s (id %s, subnet %s, tier %d, expires %s)\n", p.Slug, p.ID, p.Subnet, p.Tier, p.ExpiresAt.Format(time.DateOnly))
			})
		}},
	{name: "list", usage: "list --as ADMIN", run: func(ctx context.Context, c *localClient, _ *flag.FlagSet, as string, out io.Writer) error {
		var ps []model.Project
		if err := c.call(ctx, "/v1/project/list", map[string]any{"as": as}, &ps); err != nil {
			return err
		}
		return printResult(out, ps, func(w io.Writer) {
			fmt.Fprintln(w, "SLUG\tNAME\tSTATE\tTIER\tEXPIRES\tSUBNET")
			for _, p := range ps {
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\n", p.Slug, p.Name, p.State, p.Tier, p.ExpiresAt.Format(time.DateOnly), p.Subnet)
			}
		})
	}},
	{name: "suspend", usage: "suspend --as ADMIN [--reason TEXT] SLUG", args: 1, flags: reasonFlag, run: projectState("suspend")},
	{name: "resume", usage: "resume --as ADMIN [--reason TEXT] SLUG", args: 1, flags: reasonFlag, run: projectState("resume")},
	{name: "archive", usage: "archive --as ADMIN [--reason TEXT] SLUG  (destroys the project's key and volumes)", args: 1, flags: reasonFlag, run: projectState("archive")},
	{name: "schedule", usage: "schedule --as USER [--nightly HH:MM] [--zone Europe/London] [--idle 2h] SLUG  (no flags: off)", args: 1,
		flags: func(fs *flag.FlagSet) {
			fs.String("nightly", "", "stop every workstation of the project at this time each night (24h HH:MM)")
			fs.String("zone", "", "time zone of --nightly (IANA name; default UTC)")
			fs.String("idle", "", "stop a workstation after this long without an open desktop (10m to 168h)")
		},
		run: func(ctx context.Context, c *localClient, fs *flag.FlagSet, as string, out io.Writer) error {
			var p model.Project
			if err := c.call(ctx, "/v1/project/schedule", map[string]any{"as": as, "Slug": fs.Arg(0), "Nightly": str(fs, "nightly"),
				"Zone": str(fs, "zone"), "Idle": str(fs, "idle")}, &p); err != nil {
				return err
			}
			return printResult(out, p, func(w io.Writer) {
				fmt.Fprintf(w, "project %s: nightly shutdown %q (%s), idle stop after %s\n", p.Slug, p.Schedule.NightlyShutdown, p.Schedule.TimeZone, p.Schedule.IdleStopAfter)
			})
		}},
	{name: "member-add", usage: "member-add --as ADMIN SLUG USERNAME ROLE  (owner, researcher, output_checker, data_manager)", args: 3,
		run: func(ctx context.Context, c *localClient, fs *flag.FlagSet, as string, out io.Writer) error {
			var m model.Member
			if err := c.call(ctx, "/v1/member/add", map[string]any{"as": as, "Project": fs.Arg(0), "Username": fs.Arg(1), "Role": fs.Arg(2)}, &m); err != nil {
				return err
			}
			fmt.Fprintf(out, "%s is now %s of %s\n", fs.Arg(1), m.Role, fs.Arg(0))
			return nil
		}},
	{name: "member-remove", usage: "member-remove --as ADMIN SLUG USERNAME", args: 2,
		run: func(ctx context.Context, c *localClient, fs *flag.FlagSet, as string, out io.Writer) error {
			if err := c.call(ctx, "/v1/member/remove", map[string]any{"as": as, "Project": fs.Arg(0), "Username": fs.Arg(1)}, nil); err != nil {
				return err
			}
			fmt.Fprintf(out, "%s removed from %s\n", fs.Arg(1), fs.Arg(0))
			return nil
		}},
}

func reasonFlag(fs *flag.FlagSet) { fs.String("reason", "", "why (recorded in the audit log)") }

func projectState(op string) func(context.Context, *localClient, *flag.FlagSet, string, io.Writer) error {
	return func(ctx context.Context, c *localClient, fs *flag.FlagSet, as string, out io.Writer) error {
		var p model.Project
		if err := c.call(ctx, "/v1/project/state", map[string]any{"as": as, "Slug": fs.Arg(0), "Op": op, "Reason": str(fs, "reason")}, &p); err != nil {
			return err
		}
		fmt.Fprintf(out, "project %s is %s\n", p.Slug, p.State)
		return nil
	}
}

// listFlag collects a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

var imageCommands = []sub{
	{name: "add", usage: "add --as ADMIN [--sha256 HEX] [--kernel FILE --initrd FILE --cmdline TEXT] NAME FILE", args: 2,
		flags: func(fs *flag.FlagSet) {
			fs.String("sha256", "", "expected SHA-256 of FILE (refused on mismatch)")
			fs.String("format", "", "qcow2 or raw (default: detected)")
			fs.String("kernel", "", "kernel to boot directly (appliance and test images)")
			fs.String("initrd", "", "initial ramdisk for --kernel")
			fs.String("cmdline", "", "kernel command line for --kernel")
		},
		run: func(ctx context.Context, c *localClient, fs *flag.FlagSet, as string, out io.Writer) error {
			abs := func(p string) string {
				if p == "" {
					return ""
				}
				a, _ := filepath.Abs(p)
				return a
			}
			var img model.Image
			err := c.call(ctx, "/v1/image/add", map[string]any{"as": as, "Name": fs.Arg(0), "File": abs(fs.Arg(1)), "SHA256": str(fs, "sha256"),
				"Format": str(fs, "format"), "Kernel": abs(str(fs, "kernel")), "Initrd": abs(str(fs, "initrd")), "Cmdline": str(fs, "cmdline")}, &img)
			if err != nil {
				return err
			}
			return printResult(out, img, func(w io.Writer) {
				fmt.Fprintf(w, "registered image %s (%s, %d bytes virtual, sha256 %s)\n", img.Name, img.Format, img.Size, img.SHA256)
			})
		}},
	{name: "list", usage: "list --as ADMIN", run: func(ctx context.Context, c *localClient, _ *flag.FlagSet, as string, out io.Writer) error {
		var is []model.Image
		if err := c.call(ctx, "/v1/image/list", map[string]any{"as": as}, &is); err != nil {
			return err
		}
		return printResult(out, is, func(w io.Writer) {
			fmt.Fprintln(w, "NAME\tFORMAT\tSIZE\tSHA256")
			for _, i := range is {
				fmt.Fprintf(w, "%s\t%s\t%d\t%s\n", i.Name, i.Format, i.Size, i.SHA256)
			}
		})
	}},
	{name: "delete", usage: "delete --as ADMIN NAME", args: 1, run: func(ctx context.Context, c *localClient, fs *flag.FlagSet, as string, out io.Writer) error {
		if err := c.call(ctx, "/v1/image/delete", map[string]any{"as": as, "Name": fs.Arg(0)}, nil); err != nil {
			return err
		}
		fmt.Fprintf(out, "image %s deleted\n", fs.Arg(0))
		return nil
	}},
}

var workstationCommands = []sub{
	{name: "add", usage: "add --as USER --image NAME [--flavour NAME] PROJECT NAME", args: 2,
		flags: func(fs *flag.FlagSet) {
			fs.String("image", "", "base image name")
			fs.String("flavour", "small", "size from the configuration's [flavour.NAME] sections")
		},
		run: func(ctx context.Context, c *localClient, fs *flag.FlagSet, as string, out io.Writer) error {
			var w model.Workstation
			if err := c.call(ctx, "/v1/workstation/add", map[string]any{"as": as, "Project": fs.Arg(0), "Name": fs.Arg(1),
				"Image": str(fs, "image"), "Flavour": str(fs, "flavour")}, &w); err != nil {
				return err
			}
			return printResult(out, w, func(tw io.Writer) {
				fmt.Fprintf(tw, "created workstation %s (id %s, %d vCPU, %d MiB, address %s)\n", w.Name, w.ID, w.VCPU, w.MemoryMiB, w.IP)
			})
		}},
	{name: "list", usage: "list --as USER PROJECT", args: 1, run: func(ctx context.Context, c *localClient, fs *flag.FlagSet, as string, out io.Writer) error {
		var ws []model.Workstation
		if err := c.call(ctx, "/v1/workstation/list", map[string]any{"as": as, "Project": fs.Arg(0)}, &ws); err != nil {
			return err
		}
		return printResult(out, ws, func(w io.Writer) {
			fmt.Fprintln(w, "ID\tNAME\tDESIRED\tSTATUS\tADDRESS\tREASON")
			for _, x := range ws {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", x.ID, x.Name, x.Desired, x.Status.State, x.IP, x.Status.Reason)
			}
		})
	}},
	{name: "start", usage: "start --as USER ID", args: 1, run: workstationOp("start")},
	{name: "stop", usage: "stop --as USER ID", args: 1, run: workstationOp("stop")},
	{name: "delete", usage: "delete --as USER ID", args: 1, run: workstationOp("delete")},
}

func workstationOp(op string) func(context.Context, *localClient, *flag.FlagSet, string, io.Writer) error {
	return func(ctx context.Context, c *localClient, fs *flag.FlagSet, as string, out io.Writer) error {
		var w model.Workstation
		if err := c.call(ctx, "/v1/workstation/op", map[string]any{"as": as, "ID": fs.Arg(0), "Op": op}, &w); err != nil {
			return err
		}
		fmt.Fprintf(out, "workstation %s: desired %s\n", fs.Arg(0), w.Desired)
		return nil
	}
}

var settingCommands = []sub{
	{name: "put", usage: "put --as ADMIN KEY VALUE  (e.g. project.archive_retention 720h)", args: 2, run: func(ctx context.Context, c *localClient, fs *flag.FlagSet, as string, out io.Writer) error {
		var st model.Setting
		if err := c.call(ctx, "/v1/setting/put", map[string]any{"as": as, "Key": fs.Arg(0), "Value": fs.Arg(1)}, &st); err != nil {
			return err
		}
		fmt.Fprintf(out, "%s = %s\n", st.Key, st.Value)
		return nil
	}},
	{name: "get", usage: "get --as USER KEY", args: 1, run: func(ctx context.Context, c *localClient, fs *flag.FlagSet, as string, out io.Writer) error {
		var st model.Setting
		if err := c.call(ctx, "/v1/setting/get", map[string]any{"as": as, "Key": fs.Arg(0)}, &st); err != nil {
			return err
		}
		fmt.Fprintf(out, "%s = %s\n", st.Key, st.Value)
		return nil
	}},
}

var airlockCommands = []sub{
	{name: "list", usage: "list --as USER PROJECT", args: 1, run: func(ctx context.Context, c *localClient, fs *flag.FlagSet, as string, out io.Writer) error {
		var rs []model.AirlockRequest
		if err := c.call(ctx, "/v1/airlock/list", map[string]any{"as": as, "Project": fs.Arg(0)}, &rs); err != nil {
			return err
		}
		return printResult(out, rs, func(w io.Writer) {
			fmt.Fprintln(w, "ID\tDIRECTION\tSTATE\tFILES\tTITLE")
			for _, r := range rs {
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\n", r.ID, r.Direction, r.State, len(r.Files), r.Title)
			}
		})
	}},
	{name: "return", usage: "return --as CHECKER --reason TEXT ID  (back to the requester for changes)", args: 1, flags: reasonFlag, run: airlockMove(model.AirlockReturned)},
	{name: "reject", usage: "reject --as CHECKER --reason TEXT ID", args: 1, flags: reasonFlag, run: airlockMove(model.AirlockRejected)},
	{name: "revoke", usage: "revoke --as USER --reason TEXT ID", args: 1, flags: reasonFlag, run: airlockMove(model.AirlockRevoked)},
	{name: "vote", usage: "vote --as CHECKER ID FILE approve|reject", args: 3, run: func(ctx context.Context, c *localClient, fs *flag.FlagSet, as string, out io.Writer) error {
		var r model.AirlockRequest
		if err := c.call(ctx, "/v1/airlock/vote", map[string]any{"as": as, "ID": fs.Arg(0), "File": fs.Arg(1), "Decision": fs.Arg(2)}, &r); err != nil {
			return err
		}
		fmt.Fprintf(out, "voted %s on %s; request %s is %s\n", fs.Arg(2), fs.Arg(1), r.ID, r.State)
		return nil
	}},
	{name: "download", usage: "download --as REQUESTER ID FILE > FILE  (released exports only)", args: 2, run: func(ctx context.Context, c *localClient, fs *flag.FlagSet, as string, out io.Writer) error {
		if j, ok := out.(jsonOnly); ok {
			out = j.Writer
		}
		return c.download(ctx, "/v1/airlock/download", map[string]any{"as": as, "ID": fs.Arg(0), "File": fs.Arg(1)}, out)
	}},
}

func airlockMove(to model.AirlockState) func(context.Context, *localClient, *flag.FlagSet, string, io.Writer) error {
	return func(ctx context.Context, c *localClient, fs *flag.FlagSet, as string, out io.Writer) error {
		var r model.AirlockRequest
		if err := c.call(ctx, "/v1/airlock/transition", map[string]any{"as": as, "ID": fs.Arg(0), "To": string(to), "Reason": str(fs, "reason")}, &r); err != nil {
			return err
		}
		fmt.Fprintf(out, "request %s is %s\n", r.ID, r.State)
		return nil
	}
}

var nodeCommands = []sub{
	{name: "list", usage: "list", run: func(ctx context.Context, c *localClient, _ *flag.FlagSet, _ string, out io.Writer) error {
		var st cluster.Status
		if err := c.call(ctx, "/v1/node/status", map[string]any{}, &st); err != nil {
			return err
		}
		return printResult(out, st, func(w io.Writer) {
			fmt.Fprintf(w, "this node: %s (%s), leader: %s\n", st.Self.ID, st.Self.State, st.LeaderID)
			fmt.Fprintln(w, "ID\tADDRESS\tVOTER\tLEADER\tREACHABLE\tSTATE\tAPPLIED")
			for _, p := range st.Peers {
				state, applied := "-", "-"
				if p.Status != nil {
					state, applied = p.Status.State, fmt.Sprint(p.Status.AppliedIndex)
				}
				fmt.Fprintf(w, "%s\t%s\t%v\t%v\t%v\t%s\t%s\n", p.ID, p.Addr, p.Voter, p.Leader, p.Reachable, state, applied)
			}
		})
	}},
	{name: "token", usage: "token [--ttl 1h]", flags: func(fs *flag.FlagSet) { fs.Duration("ttl", time.Hour, "how long the token stays valid (at most 168h)") },
		run: func(ctx context.Context, c *localClient, fs *flag.FlagSet, _ string, out io.Writer) error {
			ttl, _ := time.ParseDuration(str(fs, "ttl"))
			var r map[string]string
			if err := c.call(ctx, "/v1/node/token", map[string]any{"TTL": ttl}, &r); err != nil {
				return err
			}
			fmt.Fprintf(out, "%s\n", r["token"])
			return nil
		}},
	{name: "remove", usage: "remove NODE-ID", args: 1, run: func(ctx context.Context, c *localClient, fs *flag.FlagSet, _ string, out io.Writer) error {
		if err := c.call(ctx, "/v1/node/remove", map[string]any{"ID": fs.Arg(0)}, nil); err != nil {
			return err
		}
		fmt.Fprintf(out, "node %s removed\n", fs.Arg(0))
		return nil
	}},
}

// runAudit verifies or exports the audit log: through the daemon when it
// runs, otherwise straight from the state file.
func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "verify" && args[0] != "export") {
		return usagef("usage: sded audit {verify|export} [--config FILE]")
	}
	fs, cfgPath := newFlags("audit "+args[0], "audit "+args[0]+" [--config FILE]", stderr)
	if err := parseFlags(fs, args[1:]); err != nil {
		return helpOK(err)
	}
	cfg, err := loadConfigFlag(*cfgPath)
	if err != nil {
		return err
	}
	if c, err := newLocalClient(cfg); err == nil {
		if args[0] == "export" {
			return c.stream(ctx, "/v1/audit/export", stdout)
		}
		var r map[string]int
		if err := c.call(ctx, "/v1/audit/verify", struct{}{}, &r); err != nil {
			return fmt.Errorf("audit log is NOT intact: %w", err)
		}
		fmt.Fprintf(stdout, "audit log intact: %d entries, hash chain verified\n", r["entries"])
		return nil
	}
	// sded is not running here: read the state file directly, read-only.
	st, err := state.OpenReadOnly(statePath(cfg))
	if err != nil {
		return fmt.Errorf("opening state %s read-only: %w", statePath(cfg), err)
	}
	defer st.Close()
	if args[0] == "export" {
		_, err := st.ExportAudit(ctx, stdout, 0)
		return err
	}
	n, err := st.VerifyAudit(ctx)
	if err != nil {
		return fmt.Errorf("audit log is NOT intact: %w", err)
	}
	fmt.Fprintf(stdout, "audit log intact: %d entries, hash chain verified\n", n)
	return nil
}

func runBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlags("backup", "backup [--config FILE] FILE", stderr)
	if err := parseFlags(fs, args); err != nil {
		return helpOK(err)
	}
	if fs.NArg() != 1 {
		return usagef("usage: sded backup [--config FILE] FILE")
	}
	cfg, err := loadConfigFlag(*cfgPath)
	if err != nil {
		return err
	}
	c, err := newLocalClient(cfg)
	if err != nil {
		return err
	}
	dst := fs.Arg(0)
	tmp := dst + ".partial"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("creating backup file: %w", err)
	}
	if err := c.stream(ctx, "/v1/backup", f); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("writing backup: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	f.Close()
	if err := cluster.CheckBackup(tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("backup did not arrive whole: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	fi, _ := os.Stat(dst)
	fmt.Fprintf(stdout, "backup written to %s (%d bytes); keep the key-encryption key (%s) apart from it\n", dst, fi.Size(), cfg.Storage.KEKFile)
	return nil
}

func runRestore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlags("restore", "restore [--config FILE] FILE", stderr)
	if err := parseFlags(fs, args); err != nil {
		return helpOK(err)
	}
	if fs.NArg() != 1 {
		return usagef("usage: sded restore [--config FILE] FILE")
	}
	cfg, err := loadConfigFlag(*cfgPath)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.Log)
	if c, err := net.DialTimeout("unix", socketPath(cfg), time.Second); err == nil {
		c.Close()
		return fmt.Errorf("sded is running on this node (it answers on %s): stop it first; restore needs an empty data directory", socketPath(cfg))
	}
	st, f, err := openState(cfg, log, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	cc := clusterConfig(cfg, log)
	cc.FSM, cc.Store = fsm.NewBatching(f), st
	n, err := cluster.Restore(ctx, fs.Arg(0), cc)
	if err != nil {
		return fmt.Errorf("restoring %s: %w", fs.Arg(0), err)
	}
	n.Close()
	fmt.Fprintf(stdout, "restored %s into %s as a new one-node cluster; start it with `sded serve`, then join the other nodes with fresh data directories\n", fs.Arg(0), cfg.Node.DataDir)
	return nil
}

// runInit prepares a node that founds a cluster: the cluster CA, the
// key-encryption key. `sded serve` on a fresh data directory does the same on
// its own; init fails instead of reusing anything that exists.
func runInit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cfgPath := newFlags("init", "init [--config FILE]", stderr)
	if err := parseFlags(fs, args); err != nil {
		return helpOK(err)
	}
	cfg, err := loadConfigFlag(*cfgPath)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.Log)
	if err := os.MkdirAll(cfg.Node.DataDir, 0o700); err != nil {
		return fmt.Errorf("creating data directory: %w", err)
	}
	id, err := cluster.Init(clusterConfig(cfg, log))
	if err != nil {
		return fmt.Errorf("creating the cluster CA: %w", err)
	}
	if _, err := os.Stat(cfg.Storage.KEKFile); err == nil {
		return fmt.Errorf("a key-encryption key exists at %s: refusing to replace it (it would make every project's data unreadable)", cfg.Storage.KEKFile)
	}
	if _, err := loadOrCreateKEK(cfg.Storage.KEKFile, log); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "initialised node %s in %s: cluster CA in %s, key-encryption key in %s\n", id, cfg.Node.DataDir,
		filepath.Join(cfg.Node.DataDir, "tls"), cfg.Storage.KEKFile)
	fmt.Fprintln(stdout, "Back up the key-encryption key now and keep the copy offline. Next: `sded serve`, then `sded user add --admin NAME`.")
	return nil
}
