package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"switchyard/internal/sso"
)

// LoginSummary and LogoutSummary are the commands' one-line descriptions.
const (
	LoginSummary  = "sign in to a gateway's admin API through single sign-on (admin.oidc): login -admin URL -issuer URL -client-id ID"
	LogoutSummary = "forget the single sign-on token stored for a gateway: logout -admin URL"
)

// credentials are the single sign-on tokens `switchyard login` stores,
// by admin API base URL, in the user's configuration directory.
type credentials struct {
	Gateways map[string]storedLogin `json:"gateways"`
}

// storedLogin is one gateway's sign-in: the token and what is needed to
// refresh it.
type storedLogin struct {
	Issuer   string   `json:"issuer"`
	ClientID string   `json:"client_id"`
	Scopes   []string `json:"scopes"`
	// ClientSecretEnv names the variable the client secret was read from
	// (the secret itself is never stored).
	ClientSecretEnv string `json:"client_secret_env,omitempty"`
	sso.Token
}

// credentialsPath is where credentials live: $SWITCHYARD_CREDENTIALS, else
// $XDG_CONFIG_HOME/switchyard/credentials.json, else
// ~/.config/switchyard/credentials.json.
func credentialsPath(getenv func(string) string) (string, error) {
	if p := getenv("SWITCHYARD_CREDENTIALS"); p != "" {
		return p, nil
	}
	dir := getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home := getenv("HOME")
		if home == "" {
			return "", errors.New("no home directory to keep the token in: set SWITCHYARD_CREDENTIALS to a file path")
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "switchyard", "credentials.json"), nil
}

func loadCredentials(path string) (*credentials, error) {
	c := &credentials{Gateways: map[string]storedLogin{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading stored sign-ins: %w", err)
	}
	if err := json.Unmarshal(b, c); err != nil {
		return nil, fmt.Errorf("reading stored sign-ins: %s: %w", path, err)
	}
	if c.Gateways == nil {
		c.Gateways = map[string]storedLogin{}
	}
	return c, nil
}

// save writes c readable by its owner only, replacing the file at once.
func (c *credentials) save(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("storing the sign-in: %w", err)
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".credentials-*")
	if err != nil {
		return fmt.Errorf("storing the sign-in: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("storing the sign-in: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("storing the sign-in: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("storing the sign-in: %w", err)
	}
	return nil
}

func gatewayKey(adminURL string) string { return strings.TrimRight(adminURL, "/") }

// Login runs `switchyard login`.
func Login(ctx context.Context, env *Env, args []string) error {
	fs := NewFlags("login [flags]", LoginSummary, env.Stdout, env.Stderr)
	adminURL := fs.String("admin", env.Getenv("SWITCHYARD_ADMIN_URL"), "admin API base URL the token is for (env SWITCHYARD_ADMIN_URL)")
	issuer := fs.String("issuer", env.Getenv("SWITCHYARD_OIDC_ISSUER"), "the OpenID provider's issuer URL, as admin.oidc.issuer (env SWITCHYARD_OIDC_ISSUER)")
	clientID := fs.String("client-id", env.Getenv("SWITCHYARD_OIDC_CLIENT_ID"), "the gateway's client id, as admin.oidc.client_id (env SWITCHYARD_OIDC_CLIENT_ID)")
	secretEnv := fs.String("client-secret-env", "SWITCHYARD_OIDC_CLIENT_SECRET", "environment variable holding the client secret, if the client has one")
	scopes := fs.String("scopes", "openid email profile offline_access", "scopes to ask for (space-separated); offline_access lets the token be refreshed")
	listen := fs.String("listen", "127.0.0.1:0", "loopback address the provider redirects to (register http://127.0.0.1:PORT/callback with it; port 0 is any free one)")
	timeout := fs.Duration("timeout", 5*time.Minute, "how long to wait for the sign-in in the browser")
	device := fs.Bool("device", false, "sign in on another device (the device flow, if the provider offers it): for a terminal without a browser")
	if help, err := fs.Parse(args); help || err != nil {
		return err
	}
	switch {
	case *adminURL == "":
		return errors.New("give -admin URL: the gateway the token is for")
	case *issuer == "" || *clientID == "":
		return errors.New("give -issuer URL and -client-id ID: the gateway's admin.oidc.issuer and admin.oidc.client_id")
	}
	path, err := credentialsPath(env.Getenv)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	sl := storedLogin{Issuer: *issuer, ClientID: *clientID, Scopes: strings.Fields(*scopes)}
	secret := ""
	if *secretEnv != "" {
		if secret = env.Getenv(*secretEnv); secret != "" {
			sl.ClientSecretEnv = *secretEnv
		}
	}
	lo := sso.LoginOptions{Issuer: sl.Issuer, ClientID: sl.ClientID, ClientSecret: secret, Scopes: sl.Scopes,
		Listen: *listen, Out: env.Stderr, Opened: env.OpenURL}
	flow := sso.Login
	if *device {
		flow = sso.LoginDevice
	}
	tok, err := flow(ctx, lo)
	if err != nil {
		return fmt.Errorf("signing in: %w", err)
	}
	sl.Token = tok
	creds, err := loadCredentials(path)
	if err != nil {
		return err
	}
	creds.Gateways[gatewayKey(*adminURL)] = sl
	if err := creds.save(path); err != nil {
		return err
	}
	refresh := "it cannot be refreshed: run login again then"
	if tok.RefreshToken != "" {
		refresh = "it is refreshed as needed"
	}
	fmt.Fprintf(env.Stdout, "Signed in to %s; the token is valid until %s (%s). Stored in %s.\n",
		gatewayKey(*adminURL), tok.Expiry.UTC().Format(time.RFC3339), refresh, path)
	return nil
}

// Logout runs `switchyard logout`.
func Logout(ctx context.Context, env *Env, args []string) error {
	fs := NewFlags("logout [flags]", LogoutSummary, env.Stdout, env.Stderr)
	adminURL := fs.String("admin", env.Getenv("SWITCHYARD_ADMIN_URL"), "admin API base URL (env SWITCHYARD_ADMIN_URL)")
	if help, err := fs.Parse(args); help || err != nil {
		return err
	}
	if *adminURL == "" {
		return errors.New("give -admin URL")
	}
	path, err := credentialsPath(env.Getenv)
	if err != nil {
		return err
	}
	creds, err := loadCredentials(path)
	if err != nil {
		return err
	}
	if _, ok := creds.Gateways[gatewayKey(*adminURL)]; !ok {
		fmt.Fprintf(env.Stdout, "No sign-in stored for %s.\n", gatewayKey(*adminURL))
		return nil
	}
	delete(creds.Gateways, gatewayKey(*adminURL))
	if err := creds.save(path); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "Signed out of %s.\n", gatewayKey(*adminURL))
	return nil
}

// adminToken is the one place an admin CLI command finds its bearer
// token: -token, else $SWITCHYARD_ADMIN_TOKEN, else the single sign-on
// token `switchyard login` stored for this gateway, refreshed first if it
// has expired.
func adminToken(ctx context.Context, env *Env, adminURL, flagToken string) (string, error) {
	if flagToken != "" {
		return flagToken, nil
	}
	if t := env.Getenv("SWITCHYARD_ADMIN_TOKEN"); t != "" {
		return t, nil
	}
	path, err := credentialsPath(env.Getenv)
	if err != nil {
		return "", nil // no token at all: the admin API says what it wants
	}
	creds, err := loadCredentials(path)
	if err != nil {
		return "", err
	}
	key := gatewayKey(adminURL)
	sl, ok := creds.Gateways[key]
	if !ok {
		return "", nil
	}
	now := time.Now()
	if now.Add(30 * time.Second).Before(sl.Expiry) {
		return sl.IDToken, nil
	}
	if sl.RefreshToken == "" {
		return "", fmt.Errorf("the single sign-on token for %s expired at %s: run switchyard login -admin %s", key, sl.Expiry.UTC().Format(time.RFC3339), key)
	}
	secret := ""
	if sl.ClientSecretEnv != "" {
		secret = env.Getenv(sl.ClientSecretEnv)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tok, err := sso.RefreshLogin(ctx, sso.LoginOptions{Issuer: sl.Issuer, ClientID: sl.ClientID, ClientSecret: secret, Scopes: sl.Scopes}, sl.RefreshToken)
	if err != nil {
		return "", fmt.Errorf("refreshing the single sign-on token for %s (run switchyard login -admin %s): %w", key, key, err)
	}
	sl.Token = tok
	creds.Gateways[key] = sl
	if err := creds.save(path); err != nil {
		return "", err
	}
	return tok.IDToken, nil
}
