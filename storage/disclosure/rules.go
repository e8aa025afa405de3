package disclosure

import (
	"errors"
	"fmt"
	"slices"
)

// Result of one rule on one cell.
const (
	Pass   = "pass"
	Fail   = "fail"
	Review = "review"
	NA     = "n/a"
	Error  = "error"
)

// Rules are the thresholds of the checks (per project tier).
type Rules struct {
	Threshold       int     `json:"threshold"`
	NKN             int     `json:"nk_n"`
	NKK             float64 `json:"nk_k"`
	PRatio          float64 `json:"p_ratio"`
	ZerosDisclosive bool    `json:"zeros_disclosive"`
	CheckMissing    bool    `json:"check_missing"`
}

// DefaultRules are ACRO's defaults, with missing values checked (the
// airlock's policy: a missing value means a human must look).
func DefaultRules() Rules {
	return Rules{Threshold: 10, NKN: 2, NKK: 0.9, PRatio: 0.1, ZerosDisclosive: true, CheckMissing: true}
}

// Validate refuses nonsensical thresholds.
func (r Rules) Validate() error {
	var errs []error
	if r.Threshold < 1 {
		errs = append(errs, fmt.Errorf("threshold %d must be at least 1", r.Threshold))
	}
	if r.NKN < 1 || r.NKN > 10 {
		errs = append(errs, fmt.Errorf("nk_n %d must be 1..10", r.NKN))
	}
	if !(r.NKK > 0 && r.NKK <= 1) {
		errs = append(errs, fmt.Errorf("nk_k %v must be in (0, 1]", r.NKK))
	}
	if !(r.PRatio >= 0 && r.PRatio < 1) {
		errs = append(errs, fmt.Errorf("p_ratio %v must be in [0, 1)", r.PRatio))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("disclosure rules: %w", err)
	}
	return nil
}

// Results holds each rule's result for one cell.
type Results struct {
	Threshold     string `json:"threshold"`
	Zeros         string `json:"zeros"`
	NKRule        string `json:"nk-rule"`
	PRatio        string `json:"p-ratio"`
	AllValuesSame string `json:"all-values-same"`
	Negative      string `json:"negative"`
	Missing       string `json:"missing"`
}

func (r Results) all() []string {
	return []string{r.Threshold, r.Zeros, r.NKRule, r.PRatio, r.AllValuesSame, r.Negative, r.Missing}
}

// status combines results: review wins, then fail, else pass.
func (r Results) status() string {
	a := r.all()
	switch {
	case slices.Contains(a, Review):
		return Review
	case slices.Contains(a, Fail):
		return Fail
	}
	return Pass
}

func passFail(bad bool) string {
	if bad {
		return Fail
	}
	return Pass
}

// frequencyResults judges one frequency-table cell.
func (r Rules) frequencyResults(v value) Results {
	res := Results{NKRule: NA, PRatio: NA, AllValuesSame: NA, Negative: Pass, Missing: Pass}
	switch {
	case v.missing:
		res.Threshold, res.Zeros = NA, NA
		res.Missing = Pass
		if r.CheckMissing {
			res.Missing = Review
		}
		return res
	case v.nonNumeric:
		res.Threshold, res.Zeros, res.Missing = NA, NA, Review
		return res
	case v.f < 0:
		res.Threshold, res.Zeros, res.Negative = NA, NA, Review
		return res
	}
	res.Zeros = passFail(v.f == 0 && r.ZerosDisclosive)
	res.Threshold = passFail(v.f > 0 && v.f < float64(r.Threshold))
	if v.f != float64(int64(v.f)) { // a fractional count is not a count
		res.Missing = Review
	}
	return res
}

// magnitudeResults judges one magnitude cell from its contributors.
func (r Rules) magnitudeResults(c *mcell) Results {
	res := Results{Negative: Pass, Missing: Pass}
	if c.negative > 0 {
		res.Negative = Review
	}
	if c.missing > 0 && r.CheckMissing || c.nonNumeric > 0 {
		res.Missing = Review
	}
	res.Threshold = passFail(c.n < int64(r.Threshold))
	res.AllValuesSame = passFail(c.n > 0 && !c.differ)
	res.Zeros = passFail(c.sum <= 0 && r.ZerosDisclosive)
	// p-ratio (ACRO agg_p_percent): (total - largest - second) / largest < p.
	switch {
	case c.sum <= 0 || c.n <= 1:
		res.PRatio = passFail(r.ZerosDisclosive)
	default:
		top1, top2 := c.top[0], 0.0
		if len(c.top) > 1 {
			top2 = c.top[1]
		}
		res.PRatio = passFail((c.sum-top1-top2)/top1 < r.PRatio)
	}
	// N-K (ACRO agg_nk): the N largest exceed k of the total.
	if c.sum > 0 {
		var nt float64
		for _, t := range c.top[:min(r.NKN, len(c.top))] {
			nt += t
		}
		res.NKRule = passFail(nt/c.sum > r.NKK)
	} else {
		res.NKRule = Pass
	}
	return res
}

// mcell accumulates one magnitude cell's contributors in O(NKN) memory.
type mcell struct {
	key        string
	w0, w1     uint64 // the key's words (keyWords), for cellTable
	w2, w3     uint64
	n          int64 // numeric values
	sum        float64
	top        []float64 // largest values, descending, at most max(NKN, 2)
	first      float64
	differ     bool
	missing    int64
	negative   int64
	nonNumeric int64
}

func (c *mcell) add(v value, keep int) {
	switch {
	case v.missing:
		c.missing++
		return
	case v.nonNumeric:
		c.nonNumeric++
		return
	}
	if v.f < 0 {
		c.negative++
	}
	if c.n == 0 {
		c.first = v.f
	} else if v.f != c.first {
		c.differ = true
	}
	c.n++
	c.sum += v.f
	if len(c.top) < keep {
		c.top = append(c.top, v.f)
	} else if v.f <= c.top[len(c.top)-1] {
		return
	} else {
		c.top[len(c.top)-1] = v.f
	}
	for i := len(c.top) - 1; i > 0 && c.top[i] > c.top[i-1]; i-- {
		c.top[i], c.top[i-1] = c.top[i-1], c.top[i]
	}
}
