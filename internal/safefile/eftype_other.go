//go:build unix && !netbsd

package safefile

func isEFTYPE(error) bool { return false }
