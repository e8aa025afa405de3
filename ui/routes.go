package ui

import (
	"net/http"

	"github.com/sded/sded/cluster/model"
)

// access says who may reach a route at all; what they may do is the route's
// action, checked against API token scopes here and against policy by the
// service with the object in hand.
type access int

const (
	public     access = iota // anyone: the login form
	mfaPending               // a session that proved the password only
	signedIn                 // a full session, or an API token with the action in scope
)

// route is one entry of the route table.
type route struct {
	method, pattern string
	access          access
	action          model.Action // required unless access is public or mfaPending
	api             bool         // JSON errors, bearer tokens accepted
	h               func(w http.ResponseWriter, r *http.Request, p *principal) error
}

// The action of each route. Policy decides per object in the service; the
// route table checks API token scopes, and platform actions (platformAction)
// before the handler runs.
const (
	actHome          = model.ActUserRead // reading one's own account and start page
	actProjectList   = model.ActProjectRead
	actProjectRead   = model.ActProjectRead
	actProjectCreate = model.ActProjectCreate
	actProjectSusp   = model.ActProjectLifecycle
	actProjectResume = model.ActProjectLifecycle
	actMemberAdd     = model.ActMemberManage
	actProjectSched  = model.ActProjectSchedule
	actMemberRemove  = model.ActMemberManage
	actWSList        = model.ActWorkstationRead
	actWSRead        = model.ActWorkstationRead
	actWSCreate      = model.ActWorkstationCreate
	actWSStart       = model.ActWorkstationOperate
	actWSStop        = model.ActWorkstationOperate
	actWSDelete      = model.ActWorkstationDelete
	actDesktop       = model.ActWorkstationConnect
	actUserList      = model.ActUserList
	actUserCreate    = model.ActUserCreate
	actUserDisable   = model.ActUserDisable
	actImageList     = model.ActImageRead
	actImageManage   = model.ActImageManage
	actNodeList      = model.ActNodeManage
	actAuditRead     = model.ActAuditRead
	actAirlockList   = model.ActAirlockRead
	actAirlockRead   = model.ActAirlockRead
	actAirlockImport = model.ActAirlockCreateImport
	actAirlockEdit   = model.ActAirlockEdit
	actAirlockNote   = model.ActAirlockComment
	actAirlockReview = model.ActAirlockReviewExport // an import's review also needs airlock.review_import (checked in the handler)
	actAirlockView   = model.ActAirlockFileView
	actAirlockRevoke = model.ActAirlockRevoke
	actAirlockFetch  = model.ActAirlockDownload
	actTokenList     = model.ActTokenManage
	actTokenCreate   = model.ActTokenManage
	actTokenDelete   = model.ActTokenManage
	actLogout        = model.ActSessionEnd
	actSettingRead   = model.ActSettingRead
	actSettingWrite  = model.ActSettingWrite
)

// platformAction lists the actions that concern no project: the route table
// checks them with model.Can before the handler runs, so a page an admin
// alone may see is refused to others even before the service is asked.
var platformAction = map[model.Action]bool{
	model.ActUserList: true, model.ActUserCreate: true, model.ActUserDisable: true,
	model.ActNodeManage: true, model.ActAuditRead: true, model.ActProjectCreate: true,
	model.ActProjectLifecycle: true, model.ActSettingWrite: true, model.ActImageManage: true,
}

// routes is the route table: every route names its access and action.
func (s *server) routes() []route {
	return []route{
		{"GET", "/login", public, "", false, s.loginPage},
		{"POST", "/login", public, "", false, s.loginSubmit},
		{"GET", "/login/totp", mfaPending, "", false, s.totpPage},
		{"POST", "/login/totp", mfaPending, "", false, s.totpSubmit},
		{"GET", "/login/enrol", mfaPending, "", false, s.enrolPage},
		{"POST", "/login/enrol", mfaPending, "", false, s.enrolSubmit},
		{"POST", "/logout", signedIn, actLogout, false, s.logout},

		{"GET", "/{$}", signedIn, actHome, false, s.homePage},
		{"GET", "/projects", signedIn, actProjectList, false, s.projectsPage},
		{"GET", "/projects/new", signedIn, actProjectCreate, false, s.projectNewPage},
		{"POST", "/projects", signedIn, actProjectCreate, false, s.projectCreate},
		{"GET", "/projects/{id}", signedIn, actProjectRead, false, s.projectPage},
		{"POST", "/projects/{id}/suspend", signedIn, actProjectSusp, false, s.projectSuspend},
		{"POST", "/projects/{id}/resume", signedIn, actProjectResume, false, s.projectResume},
		{"POST", "/projects/{id}/schedule", signedIn, actProjectSched, false, s.projectSchedule},
		{"POST", "/projects/{id}/members", signedIn, actMemberAdd, false, s.memberAdd},
		{"POST", "/projects/{id}/members/{user}/remove", signedIn, actMemberRemove, false, s.memberRemove},
		{"POST", "/projects/{id}/workstations", signedIn, actWSCreate, false, s.workstationCreate},
		{"GET", "/workstations/{id}", signedIn, actWSRead, false, s.workstationPage},
		{"POST", "/workstations/{id}/start", signedIn, actWSStart, false, s.workstationStart},
		{"POST", "/workstations/{id}/stop", signedIn, actWSStop, false, s.workstationStop},
		{"POST", "/workstations/{id}/delete", signedIn, actWSDelete, false, s.workstationDelete},
		{"GET", "/workstations/{id}/desktop", signedIn, actDesktop, false, s.desktopPage},
		{"GET", "/workstations/{id}/desktop/ws", signedIn, actDesktop, false, s.desktopSocket},
		{"GET", "/airlock", signedIn, actAirlockList, false, s.airlockHome},
		{"GET", "/projects/{id}/airlock", signedIn, actAirlockList, false, s.airlockProjectPage},
		{"POST", "/projects/{id}/airlock", signedIn, actAirlockImport, false, s.airlockCreate},
		{"GET", "/airlock/{id}", signedIn, actAirlockRead, false, s.airlockRequestPage},
		{"POST", "/airlock/{id}/files", signedIn, actAirlockEdit, false, s.airlockUpload},
		{"POST", "/airlock/{id}/submit", signedIn, actAirlockEdit, false, s.airlockSubmit},
		{"POST", "/airlock/{id}/comments", signedIn, actAirlockNote, false, s.airlockComment},
		{"POST", "/airlock/{id}/votes", signedIn, actAirlockReview, false, s.airlockVote},
		{"POST", "/airlock/{id}/return", signedIn, actAirlockReview, false, s.airlockMove(model.AirlockReturned)},
		{"POST", "/airlock/{id}/reject", signedIn, actAirlockReview, false, s.airlockMove(model.AirlockRejected)},
		{"POST", "/airlock/{id}/withdraw", signedIn, actAirlockEdit, false, s.airlockMove(model.AirlockWithdrawn)},
		{"POST", "/airlock/{id}/cancel", signedIn, actAirlockEdit, false, s.airlockMove(model.AirlockCancelled)},
		{"POST", "/airlock/{id}/revoke", signedIn, actAirlockRevoke, false, s.airlockMove(model.AirlockRevoked)},
		{"GET", "/airlock/{id}/files/{file}", signedIn, actAirlockView, false, s.airlockFilePage},
		{"GET", "/airlock/{id}/files/{file}/content", signedIn, actAirlockReview, false, s.airlockContent},
		{"POST", "/airlock/download", signedIn, actAirlockFetch, false, s.airlockDownload},
		{"GET", "/account/tokens", signedIn, actTokenList, false, s.tokensPage},
		{"POST", "/account/tokens", signedIn, actTokenCreate, false, s.tokenCreate},
		{"POST", "/account/tokens/{id}/delete", signedIn, actTokenDelete, false, s.tokenDelete},
		{"GET", "/admin/users", signedIn, actUserList, false, s.usersPage},
		{"POST", "/admin/users", signedIn, actUserCreate, false, s.userCreate},
		{"POST", "/admin/users/{id}/disable", signedIn, actUserDisable, false, s.userDisable},
		{"POST", "/admin/users/{id}/enable", signedIn, actUserDisable, false, s.userEnable},
		{"GET", "/admin/images", signedIn, actImageList, false, s.imagesPage},
		{"POST", "/admin/images", signedIn, actImageManage, false, s.imageCreate},
		{"POST", "/admin/images/{id}/delete", signedIn, actImageManage, false, s.imageDelete},
		{"GET", "/admin/nodes", signedIn, actNodeList, false, s.nodesPage},
		{"GET", "/admin/audit", signedIn, actAuditRead, false, s.auditPage},
		{"GET", "/admin/settings", signedIn, actSettingWrite, false, s.settingsPage},
		{"POST", "/admin/settings/break-glass", signedIn, actSettingWrite, false, s.breakGlassSubmit},

		{"GET", "/api/v1/me", signedIn, actHome, true, s.apiMe},
		{"GET", "/api/v1/projects", signedIn, actProjectList, true, s.apiProjects},
		{"POST", "/api/v1/projects", signedIn, actProjectCreate, true, s.apiProjectCreate},
		{"GET", "/api/v1/projects/{id}", signedIn, actProjectRead, true, s.apiProject},
		{"POST", "/api/v1/projects/{id}/suspend", signedIn, actProjectSusp, true, s.apiProjectSuspend},
		{"POST", "/api/v1/projects/{id}/resume", signedIn, actProjectResume, true, s.apiProjectResume},
		{"PUT", "/api/v1/projects/{id}/schedule", signedIn, actProjectSched, true, s.apiProjectSchedule},
		{"GET", "/api/v1/projects/{id}/members", signedIn, actProjectRead, true, s.apiMembers},
		{"POST", "/api/v1/projects/{id}/members", signedIn, actMemberAdd, true, s.apiMemberAdd},
		{"DELETE", "/api/v1/projects/{id}/members/{user}", signedIn, actMemberRemove, true, s.apiMemberRemove},
		{"GET", "/api/v1/projects/{id}/workstations", signedIn, actWSList, true, s.apiWorkstations},
		{"POST", "/api/v1/projects/{id}/workstations", signedIn, actWSCreate, true, s.apiWorkstationCreate},
		{"GET", "/api/v1/workstations/{id}", signedIn, actWSRead, true, s.apiWorkstation},
		{"POST", "/api/v1/workstations/{id}/start", signedIn, actWSStart, true, s.apiWorkstationStart},
		{"POST", "/api/v1/workstations/{id}/stop", signedIn, actWSStop, true, s.apiWorkstationStop},
		{"DELETE", "/api/v1/workstations/{id}", signedIn, actWSDelete, true, s.apiWorkstationDelete},
		{"GET", "/api/v1/users", signedIn, actUserList, true, s.apiUsers},
		{"POST", "/api/v1/users", signedIn, actUserCreate, true, s.apiUserCreate},
		{"POST", "/api/v1/users/{id}/disable", signedIn, actUserDisable, true, s.apiUserDisable},
		{"POST", "/api/v1/users/{id}/enable", signedIn, actUserDisable, true, s.apiUserEnable},
		{"GET", "/api/v1/images", signedIn, actImageList, true, s.apiImages},
		{"POST", "/api/v1/images", signedIn, actImageManage, true, s.apiImageCreate},
		{"DELETE", "/api/v1/images/{id}", signedIn, actImageManage, true, s.apiImageDelete},
		{"GET", "/api/v1/images/import", signedIn, actImageManage, true, s.apiImportFiles},
		{"GET", "/api/v1/nodes", signedIn, actNodeList, true, s.apiNodes},
		{"GET", "/api/v1/audit", signedIn, actAuditRead, true, s.apiAudit},
		{"GET", "/api/v1/settings/{key}", signedIn, actSettingRead, true, s.apiSetting},
		{"PUT", "/api/v1/settings/{key}", signedIn, actSettingWrite, true, s.apiSettingPut},
		{"GET", "/api/v1/tokens", signedIn, actTokenList, true, s.apiTokens},
		{"POST", "/api/v1/tokens", signedIn, actTokenCreate, true, s.apiTokenCreate},
		{"DELETE", "/api/v1/tokens/{id}", signedIn, actTokenDelete, true, s.apiTokenDelete},
		{"GET", "/api/v1/airlock", signedIn, actAirlockList, true, s.apiAirlockOutstanding},
		{"GET", "/api/v1/projects/{id}/airlock", signedIn, actAirlockList, true, s.apiAirlockList},
		{"POST", "/api/v1/projects/{id}/airlock", signedIn, actAirlockImport, true, s.apiAirlockCreate},
		{"GET", "/api/v1/airlock/{id}", signedIn, actAirlockRead, true, s.apiAirlockGet},
		{"PUT", "/api/v1/airlock/{id}/files/{file}", signedIn, actAirlockEdit, true, s.apiAirlockUpload},
		{"POST", "/api/v1/airlock/{id}/submit", signedIn, actAirlockEdit, true, s.apiAirlockSubmit},
		{"POST", "/api/v1/airlock/{id}/comments", signedIn, actAirlockNote, true, s.apiAirlockComment},
		{"POST", "/api/v1/airlock/{id}/votes", signedIn, actAirlockReview, true, s.apiAirlockVote},
		{"POST", "/api/v1/airlock/{id}/return", signedIn, actAirlockReview, true, s.apiAirlockMove(model.AirlockReturned)},
		{"POST", "/api/v1/airlock/{id}/reject", signedIn, actAirlockReview, true, s.apiAirlockMove(model.AirlockRejected)},
		{"POST", "/api/v1/airlock/{id}/withdraw", signedIn, actAirlockEdit, true, s.apiAirlockMove(model.AirlockWithdrawn)},
		{"POST", "/api/v1/airlock/{id}/cancel", signedIn, actAirlockEdit, true, s.apiAirlockMove(model.AirlockCancelled)},
		{"POST", "/api/v1/airlock/{id}/revoke", signedIn, actAirlockRevoke, true, s.apiAirlockMove(model.AirlockRevoked)},
		{"GET", "/api/v1/airlock/{id}/files/{file}", signedIn, actAirlockView, true, s.apiAirlockFile},
		{"GET", "/api/v1/airlock/{id}/files/{file}/content", signedIn, actAirlockReview, true, s.airlockContent},
		{"POST", "/api/v1/airlock/{id}/files/{file}/link", signedIn, actAirlockFetch, true, s.apiAirlockLink},
		{"POST", "/api/v1/airlock/download", signedIn, actAirlockFetch, true, s.apiAirlockDownload},
	}
}

// wrap applies the body limit, no-store caching and authentication to a
// route's handler, and renders its error.
func (s *server) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, s.bodyLimit(rt))
		w.Header().Set("Cache-Control", "no-store")
		p, err := s.authenticate(r, rt)
		if err == nil {
			err = rt.h(w, r, p)
		}
		if err == nil {
			return
		}
		if !rt.api {
			switch {
			case err == error(errAlreadySignedIn):
				http.Redirect(w, r, "/", http.StatusSeeOther)
				return
			case err == error(errSecondFactor):
				http.Redirect(w, r, "/login/totp", http.StatusSeeOther)
				return
			}
		}
		s.fail(w, r, err)
	})
}
