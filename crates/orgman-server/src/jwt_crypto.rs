//! jsonwebtoken's crypto provider for this service: RSA signatures (RS256,
//! RS384, RS512, PS256, PS384, PS512) are checked with ring, everything else
//! is left to jsonwebtoken's RustCrypto provider. The pure-Rust RSA of that
//! provider cost about half the CPU of an authenticated request; ring's is a
//! fraction of it.

use jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER as RUST_CRYPTO;
use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use ring::signature::{self as ring_signature, RsaParameters, RsaPublicKeyComponents};

/// The provider: ring for RSA verification, RustCrypto for the rest.
static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: signer,
    verifier_factory: verifier,
    key_utils: KeyUtils {
        rsa_pub_components_from_private_key: |der| {
            (RUST_CRYPTO.key_utils.rsa_pub_components_from_private_key)(der)
        },
        rsa_pub_components_from_public_key: |der| {
            (RUST_CRYPTO.key_utils.rsa_pub_components_from_public_key)(der)
        },
        ec_pub_components_from_private_key: |der, alg| {
            (RUST_CRYPTO.key_utils.ec_pub_components_from_private_key)(der, alg)
        },
        ed_pub_components_from_private_key: |der, curve| {
            (RUST_CRYPTO.key_utils.ed_pub_components_from_private_key)(der, curve)
        },
        compute_digest: |data, hash| (RUST_CRYPTO.key_utils.compute_digest)(data, hash),
    },
};

/// Makes [`PROVIDER`] jsonwebtoken's provider for this process. Harmless
/// when called again; if another provider was installed first, that one
/// stays (it is correct, only slower).
pub(crate) fn install() {
    if PROVIDER.install_default().is_err() {
        tracing::debug!("a JWT crypto provider was already installed");
    }
}

fn signer(
    algorithm: &Algorithm,
    key: &EncodingKey,
) -> jsonwebtoken::errors::Result<Box<dyn JwtSigner>> {
    (RUST_CRYPTO.signer_factory)(algorithm, key)
}

fn verifier(
    algorithm: &Algorithm,
    key: &DecodingKey,
) -> jsonwebtoken::errors::Result<Box<dyn JwtVerifier>> {
    let scheme: &'static RsaParameters = match algorithm {
        Algorithm::RS256 => &ring_signature::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &ring_signature::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &ring_signature::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &ring_signature::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &ring_signature::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &ring_signature::RSA_PSS_2048_8192_SHA512,
        _ => return (RUST_CRYPTO.verifier_factory)(algorithm, key),
    };
    match key.kind() {
        jsonwebtoken::DecodingKeyKind::RsaModulusExponent { n, e } => Ok(Box::new(RingRsa {
            algorithm: *algorithm,
            scheme,
            n: n.clone(),
            e: e.clone(),
        })),
        // A DER key (from PEM): RustCrypto parses it.
        jsonwebtoken::DecodingKeyKind::SecretOrDer(_) => {
            (RUST_CRYPTO.verifier_factory)(algorithm, key)
        }
    }
}

/// An RSA public key from a JWK (`n`, `e`), checked by ring.
struct RingRsa {
    algorithm: Algorithm,
    scheme: &'static RsaParameters,
    n: Vec<u8>,
    e: Vec<u8>,
}

impl signature::Verifier<Vec<u8>> for RingRsa {
    fn verify(&self, message: &[u8], signature: &Vec<u8>) -> Result<(), signature::Error> {
        RsaPublicKeyComponents {
            n: &self.n,
            e: &self.e,
        }
        .verify(self.scheme, message, signature)
        .map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for RingRsa {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{Algorithm, DecodingKey};

    use super::verifier;

    /// An RS256 signature made with `openssl dgst -sha256 -sign` by a
    /// 2048-bit key (modulus `N`, exponent 65537) over `MESSAGE`.
    const N: &str = "1KDUrnW4eiJ0KJyMgUwwSZnTnMd2rtQENDTuhq9OChH8oZdTMl0dI9hbaum3txe54TmSsincVd2NYH4F-lCGdyroA2n4sSLjgzKVY0pnXfVoACPsD3KxFTvRHXh5HNGNL363ora9hOaapWel9T2cS9u4zO2izuBdC6bKKLDHy_5HXNoksiCjj1B7BpBrjckGBmsYuS8meLGaF99OlYpExfm4f6ljSux9UJtM3oa-q0rdvP0YdKFUiZxVXKwCynBFJrcbsS0YV3ez5Fhz2s_A0m5ZEBQO2wpzp5lskUKA6waZdVD7f9DPJFI39kwLB7O8_uutsw0rEb1saK7_OYzVSw";
    const MESSAGE: &[u8] = b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJvcmdtYW4ifQ";
    const SIGNATURE: &str = "CEGMMV0NkgH1hsfu2CmU_7AgyJsfg35eD9DtE8yL90tuWK1e6bHQOP9m6p1QRWga3B8U7SiDofeFxByosRtq1NBGqWNZCDPirEp_l-K99vP2b1h5VKA-JX-KjYHvoEky2WflwhfKqf0CrsGnZ4PkR35BMEjFOhsIUJeCP0Te-PJpGsQ-nc2RR54iq05sMk3O0-vEzBn5AXSV37FhPKrojWVT0F2MBllVMdahIx9Lt70K_UugiAnrKYg07cFtx73hNrbnvBC1z2ci-tnfVRq15Oo7SGWwPLVizK-Y-pj8LzF77dwjXVwv54M0tjhXCo3DYT8nTvUT5Qnx91_1GbbVGw";

    fn signature() -> Vec<u8> {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(SIGNATURE)
            .unwrap()
    }

    #[test]
    fn ring_accepts_the_right_signature_and_nothing_else() {
        let key = DecodingKey::from_rsa_components(N, "AQAB").unwrap();
        let rs256 = verifier(&Algorithm::RS256, &key).unwrap();
        assert!(rs256.verify(MESSAGE, &signature()).is_ok());

        let mut tampered = MESSAGE.to_vec();
        tampered[10] ^= 1;
        assert!(rs256.verify(&tampered, &signature()).is_err());
        let mut bad = signature();
        bad[0] ^= 1;
        assert!(rs256.verify(MESSAGE, &bad).is_err());
        // Same key, another hash: refused.
        let rs512 = verifier(&Algorithm::RS512, &key).unwrap();
        assert!(rs512.verify(MESSAGE, &signature()).is_err());
    }
}
