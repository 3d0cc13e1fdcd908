// Package kmsproviders links sigstore's KMS providers (AWS KMS, Google
// Cloud KMS, Azure Key Vault, HashiCorp Vault) into a binary. Only the
// signet command imports it: the providers' SDKs are large and the
// libraries and their tests do not need them.
package kmsproviders

import (
	// Each registers its URI scheme with sigstore's kms package.
	_ "github.com/sigstore/sigstore/pkg/signature/kms/aws"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/azure"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/gcp"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/hashivault"
)
