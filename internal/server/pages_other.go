//go:build !linux

package server

import "errors"

func releaseStartupPages() (int64, error) {
	return 0, errors.New("releasing start-up pages needs Linux")
}
