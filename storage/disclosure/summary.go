package disclosure

import "math"

// maxDistinct caps the distinct values counted per category column.
const maxDistinct = 1000

// Column summarises one column for the reviewers.
type Column struct {
	Name string `json:"name"`
	Role string `json:"role"` // "category", "count" or "value"
	// Numeric columns.
	Count      int64    `json:"count"` // numeric values
	Missing    int64    `json:"missing"`
	NonNumeric int64    `json:"non_numeric"`
	Min        *float64 `json:"min,omitempty"`
	Max        *float64 `json:"max,omitempty"`
	Sum        *float64 `json:"sum,omitempty"`
	// Rounded is set when every value is a whole multiple of RoundedTo ≥ 5
	// (e.g. counts rounded to 5 or 10 before export).
	Rounded   bool  `json:"rounded"`
	RoundedTo int64 `json:"rounded_to,omitempty"`
	// Category columns: distinct values (capped at 1000, then DistinctCapped).
	Distinct       int  `json:"distinct,omitempty"`
	DistinctCapped bool `json:"distinct_capped,omitempty"`

	min, max, sum float64
	gcd           int64
	nonInt        bool
	seen          map[string]struct{}
}

func (c *Column) addNumber(v value) {
	switch {
	case v.missing:
		c.Missing++
		return
	case v.nonNumeric:
		c.NonNumeric++
		return
	}
	if c.Count == 0 || v.f < c.min {
		c.min = v.f
	}
	if c.Count == 0 || v.f > c.max {
		c.max = v.f
	}
	c.Count++
	c.sum += v.f
	switch {
	case c.nonInt, c.gcd == 1: // the gcd is no longer needed, or cannot change
	case !v.integer || math.Abs(v.f) > 1<<53:
		c.nonInt = true
	default:
		if i := int64(math.Abs(v.f)); i != 0 {
			c.gcd = gcd(c.gcd, i)
		}
	}
}

func (c *Column) addCategory(b []byte) {
	if c.DistinctCapped {
		return
	}
	if _, ok := c.seen[string(b)]; ok {
		return
	}
	if len(c.seen) >= maxDistinct {
		c.DistinctCapped = true
		return
	}
	c.seen[string(b)] = struct{}{}
}

func (c *Column) finish() {
	if c.Role == "category" {
		c.Distinct = len(c.seen)
		c.seen = nil
		return
	}
	if c.Count > 0 {
		c.Min, c.Max, c.Sum = &c.min, &c.max, &c.sum
	}
	if !c.nonInt && c.Count >= 2 && c.gcd >= 5 {
		c.Rounded, c.RoundedTo = true, c.gcd
	}
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
