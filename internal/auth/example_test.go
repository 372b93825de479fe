package auth_test

import (
	"fmt"
	"strings"

	"switchyard/internal/auth"
)

func ExampleNewKey() {
	secret, hash, prefix, err := auth.NewKey()
	if err != nil {
		panic(err)
	}
	// Show secret once; store hash and prefix.
	fmt.Println(strings.HasPrefix(secret, prefix), len(secret), len(hash), len(prefix))
	// Output: true 49 32 10
}

func ExampleSealer() {
	key, err := auth.ParseMasterKey("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
	if err != nil {
		panic(err)
	}
	sealer, err := auth.NewSealer(key)
	if err != nil {
		panic(err)
	}
	_, secret, err := auth.NewAWSKeyPair()
	if err != nil {
		panic(err)
	}
	sealed, err := sealer.Seal([]byte(secret)) // what the store keeps
	if err != nil {
		panic(err)
	}
	opened, err := sealer.Open(sealed)
	fmt.Println(string(opened) == secret, err)
	// Output: true <nil>
}
