package ui

import (
	"context"
	"net/http"
	"sort"
	"strings"

	"github.com/sded/sded/cluster/airlock"
	"github.com/sded/sded/cluster/model"
)

// The airlock's actions, shared by the pages and the API: each validates
// its input at the boundary (errors name the field) and calls the engine,
// which checks policy and state again.

func (s *server) airlockCreateImport(ctx context.Context, p *principal, projectID, title, context_ string) (model.AirlockRequest, error) {
	eng, _, err := s.airlockOn()
	if err != nil {
		return model.AirlockRequest{}, err
	}
	title, context_ = strings.TrimSpace(title), strings.TrimSpace(context_)
	if title == "" {
		return model.AirlockRequest{}, model.FieldError("title", "is required: name the data being imported")
	}
	return eng.Create(ctx, p.actor(), model.CreateAirlock{ProjectID: projectID, Direction: model.AirlockImport, Title: title, Context: context_})
}

// errExportUpload refuses browser uploads to an export: its files come from
// the workstation, through the airlock endpoint on the project's gateway.
var errExportUpload = &model.Error{Code: model.CodeConflict, Field: "file",
	Message: "the files of an export come from its workstation (the airlock endpoint on the project's gateway), not from a browser"}

func (s *server) airlockSubmitReq(ctx context.Context, p *principal, req model.AirlockRequest, context_, controls string) (model.AirlockRequest, error) {
	eng, _, err := s.airlockOn()
	if err != nil {
		return req, err
	}
	context_, controls = strings.TrimSpace(context_), strings.TrimSpace(controls)
	if req.Direction == model.AirlockExport {
		if controls == "" {
			return req, model.FieldError("disclosure_controls", "are required: say which disclosure controls you applied (suppression, rounding, ...)")
		}
		if context_ == "" && strings.TrimSpace(req.Context) == "" {
			return req, model.FieldError("context", "is required: say what the outputs are and how they were produced")
		}
	}
	return eng.Submit(ctx, p.actor(), airlock.Submission{RequestID: req.ID, DisclosureControls: controls, Context: context_})
}

func (s *server) airlockCommentReq(ctx context.Context, p *principal, req model.AirlockRequest, text string) (model.AirlockRequest, error) {
	eng, _, err := s.airlockOn()
	if err != nil {
		return req, err
	}
	text = strings.TrimSpace(text)
	if text == "" {
		return req, model.FieldError("text", "is empty: write a comment")
	}
	return eng.Comment(ctx, p.actor(), req.ID, text)
}

// airlockVoteReq records a vote on one file; a rejection needs a reason,
// which is recorded as a comment after the vote.
func (s *server) airlockVoteReq(ctx context.Context, p *principal, req model.AirlockRequest, file, decision, reason string) (model.AirlockRequest, error) {
	eng, _, err := s.airlockOn()
	if err != nil {
		return req, err
	}
	if err := scoped(p, reviewActionOf(req.Direction)); err != nil {
		return req, err
	}
	d := model.VoteDecision(decision)
	reason = strings.TrimSpace(reason)
	switch {
	case d != model.VoteApprove && d != model.VoteReject:
		return req, model.FieldError("decision", "must be approve or reject")
	case file == "":
		return req, model.FieldError("file", "is required: say which file you vote on")
	case d == model.VoteReject && reason == "":
		return req, model.FieldError("reason", "is required to reject a file: say what must change")
	}
	if _, ok := req.File(file); !ok {
		return req, model.Errorf(model.CodeNotFound, "file %q is not in this request", file)
	}
	out, err := eng.Vote(ctx, p.actor(), req.ID, file, d)
	if err != nil {
		return req, err
	}
	if reason != "" {
		verb := "Approved"
		if d == model.VoteReject {
			verb = "Rejected"
		}
		c, err := eng.Comment(ctx, p.actor(), req.ID, verb+" "+file+": "+reason)
		if err != nil {
			return out, err
		}
		out = c
	}
	return out, nil
}

// needsReason lists the states a request reaches only with a reason.
var needsReason = map[model.AirlockState]bool{model.AirlockReturned: true, model.AirlockRejected: true, model.AirlockRevoked: true}

func (s *server) airlockMoveReq(ctx context.Context, p *principal, req model.AirlockRequest, to model.AirlockState, reason string) (model.AirlockRequest, error) {
	eng, _, err := s.airlockOn()
	if err != nil {
		return req, err
	}
	if to == model.AirlockReturned || to == model.AirlockRejected {
		if err := scoped(p, reviewActionOf(req.Direction)); err != nil {
			return req, err
		}
	}
	reason = strings.TrimSpace(reason)
	if needsReason[to] && reason == "" {
		return req, model.FieldError("reason", "is required: say why (the requester sees it)")
	}
	return eng.Transition(ctx, p.actor(), req.ID, to, reason)
}

// airlockNames resolves user IDs for the viewer: display names for admins
// (who may list users), else the project role and a short ID of each
// member of projectID ("" for none).
func (s *server) airlockNames(ctx context.Context, p *principal, projectID string) names {
	n := names{}
	if projectID != "" {
		if ms, err := s.svc.ListMembers(ctx, p.actor(), projectID); err == nil {
			for _, m := range ms {
				n[m.UserID] = strings.ReplaceAll(string(m.Role), "_", " ") + " " + shortID(m.UserID)
			}
		}
	}
	if p.user.Admin {
		if us, err := s.svc.ListUsers(ctx, p.actor()); err == nil {
			for _, u := range us {
				n[u.ID] = u.DisplayName
			}
		}
	}
	n[p.user.ID] = "you"
	return n
}

// airlockOverview collects, over the viewer's projects, the requests
// waiting for their review (never their own) and their own requests.
type airlockItem struct {
	req     model.AirlockRequest
	project model.Project
	viewer  airlockViewer
}

func (s *server) airlockOverview(r *http.Request, p *principal) (outstanding, mine []airlockItem, projects []model.Project, err error) {
	_, dir, err := s.airlockOn()
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, a := r.Context(), p.actor()
	projects, err = s.svc.ListProjects(ctx, a)
	if err != nil {
		return nil, nil, nil, err
	}
	for _, pr := range projects {
		reqs, err := dir.AirlockRequests(ctx, a, pr.ID)
		if model.CodeOf(err) == model.CodeForbidden || model.CodeOf(err) == model.CodeNotFound {
			continue
		}
		if err != nil {
			return nil, nil, nil, err
		}
		if len(reqs) == 0 {
			continue
		}
		v := s.airlockViewer(ctx, p, pr)
		for _, req := range reqs {
			it := airlockItem{req, pr, v}
			if v.outstanding(req) == "review" {
				outstanding = append(outstanding, it)
			}
			if req.CreatedBy == p.user.ID {
				mine = append(mine, it)
			}
		}
	}
	sortItems(outstanding, true)
	sortItems(mine, false)
	return outstanding, mine, projects, nil
}

// sortItems puts the oldest first when waiting (first come, first
// reviewed), else the most recently changed first.
func sortItems(items []airlockItem, oldestFirst bool) {
	sort.SliceStable(items, func(i, j int) bool {
		a, b := items[i].req.UpdatedAt, items[j].req.UpdatedAt
		if oldestFirst {
			return a.Before(b)
		}
		return a.After(b)
	})
}
