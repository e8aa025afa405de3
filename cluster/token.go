package cluster

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sded/sded/cluster/model"
)

// A join token is "sdj1.<secret>.<ca-fingerprint>": 32 random bytes (base64url)
// that authorise one join, and the SHA-256 of the cluster CA certificate, which
// the joining node pins when it connects. Only the secret's SHA-256 is stored.
const tokenPrefix = "sdj1"

// MaxJoinTokenTTL bounds how long a join token may live.
const MaxJoinTokenTTL = 7 * 24 * time.Hour

// Join token errors, as the joining node sees them.
var (
	ErrTokenInvalid = &model.Error{Code: codeUnauth, Message: "join token is not valid for this cluster"}
	ErrTokenExpired = &model.Error{Code: codeUnauth, Message: "join token has expired"}
	ErrTokenUsed    = &model.Error{Code: codeUnauth, Message: "join token was already used"}
)

type parsedToken struct {
	secret      []byte
	fingerprint string
}

func parseToken(s string) (parsedToken, error) {
	parts := strings.Split(strings.TrimSpace(s), ".")
	if len(parts) != 3 || parts[0] != tokenPrefix {
		return parsedToken{}, &model.Error{Code: codeInvalid, Message: "malformed join token (want sdj1.<secret>.<fingerprint>)"}
	}
	secret, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || len(secret) != 32 {
		return parsedToken{}, &model.Error{Code: codeInvalid, Message: "malformed join token secret"}
	}
	if fp, err := hex.DecodeString(parts[2]); err != nil || len(fp) != sha256.Size {
		return parsedToken{}, &model.Error{Code: codeInvalid, Message: "malformed join token CA fingerprint"}
	}
	return parsedToken{secret: secret, fingerprint: strings.ToLower(parts[2])}, nil
}

func tokenHash(secret []byte) string {
	sum := sha256.Sum256(secret)
	return hex.EncodeToString(sum[:])
}

// tokenRecord is one stored join token.
type tokenRecord struct {
	Hash    string    `json:"hash"`
	Expires time.Time `json:"expires"`
	UsedBy  string    `json:"used_by,omitempty"`
	UsedAt  time.Time `json:"used_at,omitzero"`
}

// tokenFile keeps join tokens (hashed) in DataDir/join-tokens.json, 0600, on
// the node that signs certificates. Tokens are created and redeemed on the
// same node, the one holding the CA key, so they need not be replicated.
type tokenFile struct {
	path string
	mu   sync.Mutex
}

func (f *tokenFile) load() ([]tokenRecord, error) {
	b, err := os.ReadFile(f.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading join tokens: %w", err)
	}
	var recs []tokenRecord
	if err := json.Unmarshal(b, &recs); err != nil {
		return nil, fmt.Errorf("reading join tokens %s: %w", f.path, err)
	}
	return recs, nil
}

func (f *tokenFile) save(recs []tokenRecord, now time.Time) error {
	// Forget tokens that expired a day ago; used ones stay as long for audit.
	kept := recs[:0]
	for _, r := range recs {
		if now.Sub(r.Expires) < 24*time.Hour {
			kept = append(kept, r)
		}
	}
	b, err := json.MarshalIndent(kept, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(f.path, b, 0o600)
}

func (f *tokenFile) put(hash string, expires, now time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	recs, err := f.load()
	if err != nil {
		return err
	}
	return f.save(append(recs, tokenRecord{Hash: hash, Expires: expires}), now)
}

// use marks the token spent by nodeID, or says why it cannot be used.
func (f *tokenFile) use(hash, nodeID string, now time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	recs, err := f.load()
	if err != nil {
		return err
	}
	for i := range recs {
		if subtle.ConstantTimeCompare([]byte(recs[i].Hash), []byte(hash)) != 1 {
			continue
		}
		switch {
		case recs[i].UsedBy != "":
			return ErrTokenUsed
		case !now.Before(recs[i].Expires):
			return ErrTokenExpired
		}
		recs[i].UsedBy, recs[i].UsedAt = nodeID, now
		return f.save(recs, now)
	}
	return ErrTokenInvalid
}

// CreateJoinToken returns a one-time token that lets one new node join within
// ttl (at most MaxJoinTokenTTL), through any member. Tokens live (hashed) on
// the node holding the CA key, the one `sded init` ran on; other nodes ask it
// over the cluster RPC, so that node must be up to create or redeem tokens.
func (n *Node) CreateJoinToken(ctx context.Context, ttl time.Duration) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if ttl <= 0 || ttl > MaxJoinTokenTTL {
		return "", &model.Error{Code: codeInvalid, Field: "ttl", Message: fmt.Sprintf("join token lifetime must be between 0 and %s", MaxJoinTokenTTL)}
	}
	if n.ident.caKey == nil {
		addr, err := n.caHolder(ctx)
		if err != nil {
			return "", err
		}
		var out createTokenResponse
		if err := n.rpc.call(ctx, addr, "createtoken", createTokenRequest{TTL: ttl}, &out); err != nil {
			return "", fmt.Errorf("asking the CA node %s for a join token: %w", addr, err)
		}
		return out.Token, nil
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return "", fmt.Errorf("creating join token: %w", err)
	}
	now := time.Now()
	if err := n.tokens().put(tokenHash(secret), now.Add(ttl), now); err != nil {
		return "", fmt.Errorf("storing join token: %w", err)
	}
	n.logger.Info("created join token", "expires", now.Add(ttl).UTC().Format(time.RFC3339))
	return tokenPrefix + "." + base64.RawURLEncoding.EncodeToString(secret) + "." + n.ident.fingerprint(), nil
}

func (n *Node) tokens() *tokenFile {
	n.joinMu.Lock()
	defer n.joinMu.Unlock()
	if n.tokenStore == nil {
		n.tokenStore = &tokenFile{path: filepath.Join(n.cfg.DataDir, "join-tokens.json")}
	}
	return n.tokenStore
}

type createTokenRequest struct {
	TTL time.Duration `json:"ttl"`
}

type createTokenResponse struct {
	Token string `json:"token"`
}

func (n *Node) handleCreateToken(ctx context.Context, peer string, body json.RawMessage) (any, error) {
	var req createTokenRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, &model.Error{Code: codeInvalid, Message: "decoding token request: " + err.Error()}
	}
	if n.ident.caKey == nil {
		return nil, &model.Error{Code: codeForbidden, Message: "this node does not hold the cluster CA key"}
	}
	tok, err := n.CreateJoinToken(ctx, req.TTL)
	if err != nil {
		return nil, err
	}
	n.logger.Info("created join token for a peer", "peer", peer)
	return createTokenResponse{Token: tok}, nil
}

// caHolder finds the member that holds the CA key by asking each for its
// status.
func (n *Node) caHolder(ctx context.Context) (string, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return "", unavailableFromRaft(err)
	}
	var errs []string
	for _, s := range f.Configuration().Servers {
		if string(s.ID) == n.id {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		var st NodeStatus
		err := n.rpc.call(cctx, string(s.Address), "status", struct{}{}, &st)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", s.ID, err))
			continue
		}
		if st.SignsCertificates {
			return string(s.Address), nil
		}
	}
	return "", &model.Error{Code: codeUnavailable, Message: "no reachable member holds the cluster CA key (the node `sded init` ran on must be up to create or redeem join tokens): " + strings.Join(errs, "; ")}
}
