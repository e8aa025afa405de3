package view

// AirlockRow is an airlock request in a list.
type AirlockRow struct {
	ID, Title, Direction, State, Requester, ProjectID, ProjectName, Updated string
	Files                                                                   int
	Waiting                                                                 string // what the request waits for
	ForMe                                                                   string // the viewer's next step ("review", "resubmit", ...), "" if none
}

// AirlockHome is the airlock start page: what waits for the viewer, their
// own requests, and each project's airlock.
type AirlockHome struct {
	Outstanding []AirlockRow
	Mine        []AirlockRow
	Projects    []Option // project ID → name
}

// AirlockProject is one project's airlock requests and, for admins and
// data managers, the form opening an import.
type AirlockProject struct {
	ProjectID, ProjectName string
	Rows                   []AirlockRow
	CanImport              bool
	Form                   Form
}

// AirlockVoteRow is one reviewer's decision on a file.
type AirlockVoteRow struct{ Reviewer, Decision, At string }

// AirlockLink is a signed download link of a released file.
type AirlockLink struct{ Token, Expires string }

// AirlockFileRow is one file on a request page.
type AirlockFileRow struct {
	Name, Size, SHA256 string
	Result             string   // pass, review, fail, blocked; "" before the checks
	Summary            string   // the checks' one-line summary
	Rules              []string // the rules that fired, with their cell counts
	Approvals          string   // "1 of 2"
	Votes              []AirlockVoteRow
	MyVote             string
	Link               *AirlockLink // the requester's download link, once released
	Content            bool         // the viewer may read the file's bytes (a reviewer)
}

// AirlockEvent is one entry of a request's activity: a comment or a state
// change.
type AirlockEvent struct {
	At, Who, What, Text string
	Comment             bool
}

// AirlockDetail is one request's page.
type AirlockDetail struct {
	ID, Title, Direction, State, ProjectID, ProjectName, Requester, Created string
	Context, DisclosureControls, Waiting, Approvals                         string
	Import                                                                  bool
	Files                                                                   []AirlockFileRow
	Activity                                                                []AirlockEvent
	CanUpload, CanSubmit, CanComment, CanVote, CanDecide                    bool
	CanWithdraw, CanCancel, CanRevoke                                       bool
	// One form per action, so a redisplay puts each error next to its
	// field and keeps what was typed.
	UploadForm, SubmitForm, CommentForm, VoteForm, DecideForm Form
	MaxUpload                                                 string
}

// AirlockRule is one disclosure rule's setting.
type AirlockRule struct{ Name, Setting string }

// AirlockCellResult is one rule's result on one cell.
type AirlockCellResult struct{ Rule, Result string }

// AirlockCell is one listed cell of a checked table.
type AirlockCell struct {
	Key, Line, N, Total, Status, Note string
	Results                           []AirlockCellResult // in AirlockFileDetail.RuleNames order
}

// AirlockColumn is one column's summary.
type AirlockColumn struct {
	Name, Role, Count, Missing, NonNumeric, Min, Max, Sum, Rounding, Distinct string
}

// AirlockFileDetail is the file view: the disclosure record of one file as
// tables.
type AirlockFileDetail struct {
	RequestID, RequestTitle, State, Name, Size, SHA256, Result string
	Checked                                                    bool // the record has an entry for the file
	Kind, Status, Summary, Error, Categories, Column           string
	Rows, CellsTotal                                           string
	Rules                                                      []AirlockRule
	Fired                                                      []string // rules that fired, with cell counts
	RuleNames                                                  []string // headers of the cell table
	Cells                                                      []AirlockCell
	Truncated                                                  bool
	Columns                                                    []AirlockColumn
	Content                                                    bool
}
