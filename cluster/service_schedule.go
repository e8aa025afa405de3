package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
	// The zone database is built in, so that a node without the system's
	// tzdata package still accepts and computes every IANA zone.
	_ "time/tzdata"

	"github.com/sded/sded/cluster/model"
)

// loadZone resolves a schedule's time zone name. Only the proposer does
// this: the FSM stores the name and is given instants.
func loadZone(name string) (*time.Location, error) {
	if name == "" || name == "Local" {
		return nil, model.FieldError("schedule.time_zone", "%q is not an IANA time zone name", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, model.FieldError("schedule.time_zone", "unknown time zone %q (an IANA name such as Europe/London)", name)
	}
	return loc, nil
}

// SetProjectSchedule sets a project's nightly shutdown and idle auto-stop
// (admins, the project's owners); the zero schedule turns both off. The
// time zone must be an IANA name this node knows ("UTC" is stored as "").
// It returns the project as stored.
func (s *Service) SetProjectSchedule(ctx context.Context, actor model.Actor, projectID string, sch model.Schedule) (model.Project, error) {
	if sch.TimeZone == "UTC" {
		sch.TimeZone = ""
	}
	p := model.SetProjectSchedule{ProjectID: projectID, Schedule: sch}
	if err := p.Validate(); err != nil {
		return model.Project{}, err
	}
	if _, err := loadZone(sch.Zone()); err != nil {
		return model.Project{}, err
	}
	if err := s.fresh(ctx); err != nil {
		return model.Project{}, err
	}
	_, o, err := s.projectObject(projectID)
	if err != nil {
		return model.Project{}, err
	}
	if err := s.checkLocal(ctx, actor, model.ActProjectSchedule, o); err != nil {
		return model.Project{}, err
	}
	var out model.Project
	return out, s.propose(ctx, model.CmdSetProjectSchedule, actor, p, &out)
}

// EnforceSchedules stops the running workstations that their project's
// schedule says must stop now: past the nightly shutdown since they were
// started, or idle (no desktop open) for longer than the idle stop. It
// computes each project's most recent nightly shutdown instant in the
// project's zone (the FSM does no zone arithmetic) and proposes one
// schedule.enforce entry, only when the local replica shows something is
// due, so an idle cluster's log does not grow every minute. It returns the
// IDs of the workstations stopped. Housekeep calls it; on the leader, every
// 30 s to a minute is enough.
func (s *Service) EnforceSchedules(ctx context.Context) ([]string, error) {
	if err := s.fresh(ctx); err != nil {
		return nil, err
	}
	p, due, err := s.scheduleDue(s.now())
	if err != nil || !due {
		return nil, err
	}
	var out []string
	if err := s.propose(ctx, model.CmdEnforceSchedules, s.system(), p, &out); err != nil {
		return nil, err
	}
	if len(out) > 0 {
		s.log.Info("schedule stopped workstations", slog.Int("count", len(out)), slog.Any("workstations", out))
	}
	return out, nil
}

// scheduleDue builds the enforcement entry for time at from the local
// replica and reports whether any workstation is due to stop.
func (s *Service) scheduleDue(at time.Time) (model.EnforceSchedules, bool, error) {
	p := model.EnforceSchedules{At: at, Nightly: map[string]model.NightlyInstant{}}
	projects, err := s.st.Projects()
	if err != nil {
		return p, false, err
	}
	due := false
	for _, pr := range projects {
		if pr.State != model.ProjectActive || pr.Schedule.Off() {
			continue
		}
		var nightly time.Time
		if pr.Schedule.NightlyShutdown != "" {
			loc, err := loadZone(pr.Schedule.Zone())
			if err != nil {
				s.log.Warn("project schedule has an unknown time zone: nightly shutdown skipped", slog.String("project", pr.Slug), slog.Any("err", err))
			} else if n, ok := pr.Schedule.LastNightly(at, loc); ok {
				nightly = n
				p.Nightly[pr.ID] = model.NightlyInstant{Spec: pr.Schedule.NightlySpec(), At: n}
			}
		}
		ws, err := s.st.Workstations(pr.ID)
		if err != nil {
			return p, false, err
		}
		for _, w := range ws {
			if _, ok := pr.Schedule.StopReason(w, at, nightly); ok {
				due = true
			}
		}
	}
	return p, due, nil
}

// ForgetDesktops closes, as this node, every desktop session the state
// records as served by this node: at start no desktop is open here, so
// they are what a crash or kill left behind, and they must not keep their
// workstations awake. The daemon calls it once the node has joined the
// cluster, before it serves desktops. It returns how many it closed.
func (s *Service) ForgetDesktops(ctx context.Context) (int, error) {
	if err := s.fresh(ctx); err != nil {
		return 0, err
	}
	ws, err := s.st.AllWorkstations()
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, w := range ws {
		for _, d := range w.Desktops {
			if d.Node != s.cfg.NodeID {
				continue
			}
			act := model.DesktopActivity{WorkstationID: w.ID, SessionID: d.ID,
				Details: map[string]string{"reason": "node restarted", "user_id": d.UserID}}
			if err := s.propose(ctx, model.CmdDesktopActivity, s.system(), act, nil); err != nil && model.CodeOf(err) != model.CodeNotFound {
				errs = append(errs, fmt.Errorf("closing desktop %s of workstation %s: %w", d.ID, w.ID, err))
				continue
			}
			n++
		}
	}
	return n, errors.Join(errs...)
}
