package view

// The airlock pages join TestPages (golden files, no inline script or
// style, a label for every control) with representative view models:
// empty states, a checker's review, a requester's returned request with
// form errors, a released export's download, and a file view with a
// flagged cell.
func init() {
	checker := Layout{Title: "Airlock", User: "Olly Checker", Version: "v1"}
	flagged := []AirlockFileRow{{Name: "table 1.csv", Size: "30 B", SHA256: "44f0c2", Result: "fail", Summary: "fail; 1 cells pass, 1 fail",
		Rules: []string{"Threshold: 1 cell"}, Approvals: "0 of 2", Content: true}}
	pages["airlock_home_empty"] = AirlockHomePage(checker, AirlockHome{})
	pages["airlock_home"] = AirlockHomePage(checker, AirlockHome{
		Outstanding: []AirlockRow{{ID: "a1", Title: "Table 1", Direction: "export", State: "submitted", Requester: "u-alice",
			ProjectID: "p1", ProjectName: "Diabetes", Files: 1, Waiting: "a checker to start the review", ForMe: "review", Updated: "2026-11-22 10:00:00 UTC"}},
		Projects: []Option{{"p1", "Diabetes"}}})
	pages["airlock_project_import"] = AirlockProjectPage(Layout{Title: "Airlock", User: "Dana", Version: "v1"}, AirlockProject{
		ProjectID: "p1", ProjectName: "Diabetes", CanImport: true,
		Form: Form{Values: map[string]string{"context": "GP extract"}, Errors: map[string]string{"title": "is required"}}})
	pages["airlock_request_review"] = AirlockRequestPage(checker, AirlockDetail{ID: "a1", Title: "Table 1", Direction: "export",
		State: "in_review", ProjectID: "p1", ProjectName: "Diabetes", Requester: "u-alice", Context: "Counts by region",
		DisclosureControls: "none", Waiting: "reviews (0 of 1 files fully approved)", Approvals: "2", Files: flagged,
		CanComment: true, CanVote: true, CanDecide: true,
		VoteForm: Form{Values: map[string]string{"file": "table 1.csv", "decision": "reject"}, Errors: map[string]string{"reason": "is required to reject a file"}},
		Activity: []AirlockEvent{{At: "2026-11-22 10:00:00 UTC", Who: "u-alice", What: "submitted the request"}}})
	pages["airlock_request_returned"] = AirlockRequestPage(Layout{Title: "Table 1", User: "Alice", Version: "v1"}, AirlockDetail{
		ID: "a1", Title: "Table 1", Direction: "export", State: "returned", Requester: "you", Approvals: "2", Files: flagged,
		Waiting: "the requester to change and resubmit", CanSubmit: true, CanWithdraw: true, CanCancel: true, CanComment: true,
		SubmitForm: Form{Values: map[string]string{"context": "suppressed South"}, Errors: map[string]string{"disclosure_controls": "are required"}},
		Activity: []AirlockEvent{{At: "t1", Who: "u-olly", What: "returned the request for changes", Text: "South is 3"},
			{At: "t2", Who: "u-olly", What: "commented", Text: "Please suppress", Comment: true}}})
	pages["airlock_request_import_draft"] = AirlockRequestPage(Layout{Title: "Cohort", User: "Dana", Version: "v1"}, AirlockDetail{
		ID: "i1", Title: "Cohort", Direction: "import", Import: true, State: "draft", Requester: "you", Approvals: "2", MaxUpload: "1.0 GiB",
		Waiting: "the requester to submit", CanUpload: true, CanSubmit: true, CanCancel: true, CanComment: true,
		UploadForm: Form{Values: map[string]string{"pseudonymise": "nhs_number"}, Errors: map[string]string{"file": "the upload is larger than the limit of 1.0 GiB"}}})
	pages["airlock_request_released"] = AirlockRequestPage(Layout{Title: "Table 1", User: "Alice", Version: "v1"}, AirlockDetail{
		ID: "a1", Title: "Table 1", Direction: "export", State: "released", Requester: "you", Approvals: "2",
		Waiting: "nothing: released to the requester",
		Files: []AirlockFileRow{{Name: "table 1.csv", Size: "30 B", SHA256: "aa", Result: "pass", Approvals: "2 of 2",
			Votes: []AirlockVoteRow{{"Olly", "approve", "t1"}, {"Otto", "approve", "t2"}},
			Link:  &AirlockLink{Token: "tok.sig", Expires: "2026-11-22 10:15:00 UTC"}}}})
	pages["airlock_file"] = AirlockFilePage(checker, AirlockFileDetail{RequestID: "a1", RequestTitle: "Table 1", State: "in_review",
		Name: "table 1.csv", Size: "30 B", SHA256: "44f0c2", Result: "fail", Checked: true, Kind: "frequency", Status: "fail",
		Summary: "fail; 1 cells pass, 1 fail", Categories: "region", Column: "count", Rows: "2", CellsTotal: "2", Content: true,
		Rules: []AirlockRule{{"Threshold", "every cell counts at least 10"}}, Fired: []string{"Threshold: 1 cell"},
		RuleNames: []string{"Threshold", "Zeros"},
		Cells: []AirlockCell{{Key: "North", Line: "2", N: "12", Status: "pass", Results: []AirlockCellResult{{"threshold", "pass"}, {"zeros", "pass"}}},
			{Key: "South", Line: "3", N: "3", Status: "fail", Results: []AirlockCellResult{{"threshold", "fail"}, {"zeros", "pass"}}}},
		Columns: []AirlockColumn{{Name: "count", Role: "count", Count: "2", Missing: "0", NonNumeric: "0", Min: "3", Max: "12", Sum: "15", Rounding: "not rounded"}}})
	pages["airlock_file_unchecked"] = AirlockFilePage(checker, AirlockFileDetail{RequestID: "i1", RequestTitle: "Cohort", State: "submitted",
		Name: "cohort.csv", Size: "1 KiB", SHA256: "bb"})
}
