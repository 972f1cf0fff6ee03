package parse

// IsSecretLabel tells whether a label's key names a secret (token, password, secret or access
// key): the labels whose values MaskedLabels hides. For callers that mask labels one by one
// instead of copying them all.
func IsSecretLabel(key string) bool { return isSecretLabel(key) }
