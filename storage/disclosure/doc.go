// Package disclosure runs automatic statistical disclosure checks on CSV
// tables leaving a project through the airlock, following ACRO's rules and
// defaults (AI-SDC/ACRO, acro/default.yaml): minimum threshold 10, dominance
// N-K with n=2 and k=0.9, p-ratio 0.1, zeros disclosive; negative or missing
// values mean "review" (a human must look), as in ACRO. Thresholds are set
// per project tier (Tiers).
//
// # What researchers export
//
// A table is a UTF-8 CSV file (RFC 4180: comma-separated, double quotes for
// fields with commas, quotes or newlines) with a header row. Two kinds:
//
// Frequency table: one row per cell; one count column, every other column is
// a category. The count column is named "count", "n", "freq" or "frequency"
// (any case), or named in the request.
//
//	region,sex,count
//	North,F,12
//	North,M,3
//
// Magnitude table with contributors: one row per contributor (person,
// practice, ...), the category columns of the cell it contributes to and its
// value in a column named "value" (or named in the request). The checker
// groups rows into cells itself, which is what dominance rules need: they
// cannot be judged from a cell's total alone. Only the aggregate is released;
// the contributor file stays in the airlock as evidence.
//
//	region,sex,value
//	North,F,1200.50
//	North,F,830
//
// The kind is taken from the request or detected from the header; a header
// with neither kind of column is refused with an error that says so.
//
// # Rules per cell
//
//   - threshold: fewer than Threshold contributors (magnitude) or a count
//     below Threshold (frequency, 0 excluded) → fail.
//   - zeros: a zero count, or a magnitude cell with a total ≤ 0, → fail when
//     ZerosDisclosive.
//   - nk-rule (magnitude): the NKN largest values exceed NKK of the total → fail.
//   - p-ratio (magnitude): (total − two largest) / largest < PRatio → fail.
//   - all-values-same (magnitude): every contributor has the same value
//     (class disclosure) → fail.
//   - negative: a negative value → review; missing (empty, NA, NaN, null, .)
//     or a non-numeric value → review.
//
// A cell or file with any "review" result is "review" (as ACRO: suppression
// cannot be trusted then), otherwise "fail" if any rule failed, else "pass".
// Files other than CSV tables are always "review".
//
// # Limits and speed
//
// Input is bounded (package table: record length, column count, total
// size; Options.MaxCells). Category values must not contain control
// characters. Magnitude tables are cut into 1 MiB blocks at record
// boundaries and grouped by two workers, merged in a fixed order so the
// record is the same on every run; SHA-256 runs on its own goroutine over
// the same block buffers (no copy). A block without quotes whose value
// column is first or last takes a fast path: newlines found 64 bytes at a
// time, each line split at one comma into value and key, the key looked up
// in a seeded open-addressing table by its bytes, plain values of up to
// eight bytes parsed as one word; fields are counted only when a line makes
// a new cell (a line with a known key has that cell's fields). The fast
// path gives exactly the results of the general reader (tested).
// BenchmarkDisclosureCheck compares a 100 MB table with `wc -l`.
//
// # Record
//
// Record is the machine-readable disclosure record of one request: every
// file's SHA-256 and size, the rules applied, each rule's result per cell
// (every cell up to MaxListedCells, beyond that the cells that did not pass,
// flagged "truncated"; Record.Fit trims it to the size replicated state
// allows), and per-column summaries (min, max, sum, counts,
// distinct categories, and whether numbers look rounded).
package disclosure
