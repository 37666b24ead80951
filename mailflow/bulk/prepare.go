package bulk

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/madoguchi/madoguchi/internal/secret"
	"github.com/madoguchi/madoguchi/mailflow/application"
	"github.com/madoguchi/madoguchi/mailflow/forms"
	"github.com/madoguchi/madoguchi/mailflow/rules"
)

// Options tune Prepare.
type Options struct {
	Now  time.Time     // desk-local time, for birth dates; default time.Now()
	Hash secret.Params // default secret.DefaultParams()
	// Hasher, when set, hashes instead (at its own cost) and lends its
	// memory: the desk's, shared with its other hashing.
	Hasher  *secret.Hasher
	Workers int // goroutines hashing passwords; default runtime.NumCPU()
	// Progress is called from the goroutine that called Prepare, as rows
	// are checked and hashed; done reaches total at the end. May be nil.
	Progress func(done, total int)
}

// Prepared is a row checked and, when it has no problem, hashed. It holds
// no clear password: App.Password is "" and Row.Fields has no secret.
type Prepared struct {
	Row                Row
	App                application.NewID
	Hash               string // "" when Problems is not empty
	Problems, Warnings []rules.Problem
}

// Prepare checks every row with the rules of a single application, then
// the rows against each other (one ID per row, one row per person), and
// hashes the passwords of the valid rows in parallel. It needs no
// database; Commit checks against it.
func Prepare(ctx context.Context, rows []Row, opts Options) ([]Prepared, error) {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	if opts.Hash == (secret.Params{}) {
		opts.Hash = secret.DefaultParams()
	}
	if opts.Hasher == nil {
		opts.Hasher = secret.NewHasher(opts.Hash)
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.NumCPU()
	}
	progress := opts.Progress
	if progress == nil {
		progress = func(int, int) {}
	}
	total := len(rows)
	out := make([]Prepared, total)
	passwords := make([]string, total) // kept apart, dropped when hashed
	secrets := forms.SecretKeys(forms.KindNewID)

	firstID := map[string]int{}     // desired ID -> line that claims it
	firstPerson := map[string]int{} // identity key -> line
	var toHash []int                // indexes of the valid rows
	for i, row := range rows {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		app, problems, warnings, err := application.CheckNewID(row.Fields, opts.Now, nil)
		if err != nil {
			return nil, err
		}
		if row.Extra > 0 {
			problems = append(problems, extraCells(row.Extra))
		}
		// The first row that names a well-formed ID or a person claims it,
		// whatever else is wrong with that row: the later rows say which
		// line to look at.
		if app.DesiredID != "" && !refused(problems, "desired_id") {
			if line, ok := firstID[app.DesiredID]; ok {
				problems = append(problems, sameIDProblem(app.DesiredID, line))
			} else {
				firstID[app.DesiredID] = row.Line
			}
		}
		if app.IdentityKey != "" {
			if line, ok := firstPerson[app.IdentityKey]; ok {
				problems = append(problems, samePersonProblem(line))
			} else {
				firstPerson[app.IdentityKey] = row.Line
			}
		}
		passwords[i], app.Password = app.Password, ""
		fields := make(map[string]string, len(row.Fields))
		for k, v := range row.Fields {
			fields[k] = v
		}
		for _, k := range secrets {
			delete(fields, k)
		}
		out[i] = Prepared{Row: Row{Line: row.Line, Fields: fields, Extra: row.Extra}, App: app, Problems: problems, Warnings: warnings}
		if len(problems) == 0 {
			toHash = append(toHash, i)
		} else {
			passwords[i] = ""
		}
	}
	done := total - len(toHash)
	progress(done, total)

	if err := hashAll(ctx, toHash, passwords, opts, func(i int, hash string) {
		out[i].Hash = hash
		done++
		progress(done, total)
	}); err != nil {
		return nil, err
	}
	return out, nil
}

// hashAll hashes passwords[i] for every i of idx in opts.Workers
// goroutines; store is called on the calling goroutine.
func hashAll(ctx context.Context, idx []int, passwords []string, opts Options, store func(i int, hash string)) error {
	if len(idx) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		i    int
		hash string
		err  error
	}
	jobs := make(chan int)
	results := make(chan result)
	var wg sync.WaitGroup
	for w := 0; w < min(opts.Workers, len(idx)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				h, err := opts.Hasher.Hash(passwords[i])
				select {
				case results <- result{i, h, err}:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() {
		defer close(jobs)
		for _, i := range idx {
			select {
			case jobs <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()

	var firstErr error
	for n := 0; n < len(idx); n++ {
		var r result
		select {
		case r = <-results:
		case <-ctx.Done():
			firstErr = ctx.Err()
		}
		if firstErr == nil && r.err != nil {
			firstErr = fmt.Errorf("hash password: %w", r.err)
		}
		if firstErr != nil {
			cancel()
			for range results { // let the workers finish before returning
			}
			return firstErr
		}
		passwords[r.i] = ""
		store(r.i, r.hash)
	}
	return nil
}

func refused(ps []rules.Problem, field string) bool {
	for _, p := range ps {
		if p.Field == field && !p.Warning {
			return true
		}
	}
	return false
}

// sameIDProblem is id.taken, as for an ID issued before: to the
// administrator it is the same fix, another ID.
func sameIDProblem(id string, line int) rules.Problem {
	return rules.Problem{Field: "desired_id", Code: "id.taken",
		JA: fmt.Sprintf("ID「%s」は%d行目と同じです。別のIDをご指定ください。", id, line),
		EN: fmt.Sprintf("The ID %q is the same as on line %d. Please choose another.", id, line)}
}

// samePersonProblem enforces one personal ID per person inside the file.
func samePersonProblem(line int) rules.Problem {
	return rules.Problem{Code: "identity.duplicate_row",
		JA: fmt.Sprintf("%d行目と同じ方です(氏名と生年月日が同じ)。個人用IDはお一人につき1つです。", line),
		EN: fmt.Sprintf("The same person as on line %d (same name and date of birth). One personal ID per person.", line)}
}

func extraCells(n int) rules.Problem {
	return rules.Problem{Code: "csv.extra_cells",
		JA: fmt.Sprintf("見出しのない列に値があります(%d個)。列がずれていないかご確認ください。", n),
		EN: fmt.Sprintf("%d cell(s) outside the named columns hold a value; check that the columns have not shifted.", n)}
}
