package auth

import (
	"strings"

	"github.com/google/uuid"
)

// devNamespace scopes the user ids of dev sign-in names (a random uuid
// fixed here, so a name maps to the same user on every run).
var devNamespace = uuid.MustParse("5b0e4c1e-3f6d-4a53-9d3e-7c2f1a8b9e40")

// DevUserID is the stable user id of a dev sign-in name (memory mode only):
// a name-based (SHA-1, version 5) uuid of the trimmed, lower-cased name, so
// "Ada" and "ada " are one user and every run gives them the same id.
func DevUserID(name string) string {
	return uuid.NewSHA1(devNamespace, []byte(strings.ToLower(strings.TrimSpace(name)))).String()
}
