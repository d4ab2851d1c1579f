//! Passwords (mật khẩu): argon2id hashes in PHC string format, and the password policy.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::sync::OnceLock;
use tinhso_kernel::Invalid;

/// Hash a password with argon2id (default parameters: 19 MiB, 2 passes). The password is
/// NFC-normalised first, so "mật khẩu" typed on a keyboard that sends decomposed marks
/// matches the same password typed elsewhere.
pub fn hash(password: &str) -> Result<String, tinhso_kernel::AppError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(tinhso_kernel::text::nfc(password).as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(tinhso_kernel::AppError::internal)
}

/// Check a password against a stored hash. Unparseable hashes never verify.
pub fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(h) => Argon2::default()
            .verify_password(tinhso_kernel::text::nfc(password).as_bytes(), &h)
            .is_ok(),
        Err(_) => false,
    }
}

/// Spend the same time as a real verification, for unknown user names (so the response time
/// does not reveal whether an account exists).
pub fn verify_dummy(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let stored = DUMMY.get_or_init(|| hash("dummy password for timing").unwrap_or_default());
    let _ = verify(password, stored);
}

/// Password policy: 10–128 characters, not only digits, not containing the user name.
pub fn check_policy(password: &str, username: &str) -> Result<(), Invalid> {
    let password = &tinhso_kernel::text::nfc(password);
    let n = password.chars().count();
    if n < 10 {
        return Err(Invalid::new(
            "password_short",
            format!("Mật khẩu phải có ít nhất 10 ký tự (hiện có {n})"),
            format!("The password needs at least 10 characters (it has {n})"),
        ));
    }
    if n > 128 {
        return Err(Invalid::new(
            "password_long",
            "Mật khẩu dài quá 128 ký tự",
            "The password is longer than 128 characters",
        ));
    }
    if password.chars().all(|c| c.is_ascii_digit()) {
        return Err(Invalid::new(
            "password_digits_only",
            "Mật khẩu không được chỉ gồm chữ số",
            "The password must not be digits only",
        ));
    }
    if !username.is_empty() && password.to_lowercase().contains(&username.to_lowercase()) {
        return Err(Invalid::new(
            "password_contains_username",
            "Mật khẩu không được chứa tên đăng nhập",
            "The password must not contain the user name",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash("Mật khẩu rất mạnh 2026").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("Mật khẩu rất mạnh 2026", &h));
        assert!(!verify("Mật khẩu rất mạnh 2025", &h));
        assert!(!verify("x", "not a hash"));
    }

    #[test]
    fn composed_and_decomposed_passwords_match() {
        let composed = "Mật khẩu rất mạnh 2026";
        let decomposed: String =
            unicode_normalization::UnicodeNormalization::nfd(composed).collect();
        assert_ne!(composed, decomposed);
        let h = hash(&decomposed).unwrap();
        assert!(verify(composed, &h));
    }

    #[test]
    fn policy() {
        assert_eq!(
            check_policy("short", "u").unwrap_err().code,
            "password_short"
        );
        assert_eq!(
            check_policy("12345678901", "u").unwrap_err().code,
            "password_digits_only"
        );
        assert_eq!(
            check_policy("canbo.motcua-2026", "canbo.motcua")
                .unwrap_err()
                .code,
            "password_contains_username"
        );
        assert!(check_policy("Lạng Sơn 2026!", "canbo").is_ok());
    }
}
