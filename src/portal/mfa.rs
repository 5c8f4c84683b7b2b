//! The second-factor step as the portal shows it: the code form (TOTP, a code by e-mail or
//! SMS, a recovery code) and its post.

use super::*;

/// A pending MFA step as the portal shows it: its token, the methods offered (comma-separated,
/// echoed through the forms) and a notice (a code was sent).
pub(crate) struct MfaStep<'a> {
    pub token: &'a str,
    pub methods: &'a str,
    pub notice: Option<M>,
}

pub(crate) fn code_form(ui: &Ui, rd: Option<&str>, csrf: &str, step: &MfaStep, error: Option<&str>) -> String {
    let error = error_html(error);
    let notice = step.notice.map(|n| format!(r#"<p role="status">{}</p>"#, ui.h(n))).unwrap_or_default();
    let rd_field = rd_input(rd);
    let offered: Vec<&str> = step.methods.split(',').filter(|m| !m.is_empty()).collect();
    let otp_first = step.notice.is_some();
    let mut options = vec![];
    for (m, label) in [("otp", M::MethodOtp), ("totp", M::MethodTotp), ("recovery_code", M::MethodRecovery)] {
        let label = ui.h(label);
        if offered.contains(&m) || (offered.is_empty() && m != "otp") {
            let selected = if otp_first && m == "otp" { " selected" } else { "" };
            options.push(format!(r#"<option value="{m}"{selected}>{label}</option>"#));
        }
    }
    if !otp_first {
        // The authenticator app first when there is one.
        options.sort_by_key(|o| !o.contains("\"totp\""));
    }
    let send = if offered.contains(&"otp") {
        format!(
            r#"<form method="post" action="/auth/mfa/otp">
  <input type="hidden" name="csrf" value="{csrf}">
  <input type="hidden" name="mfa_token" value="{token}">
  <input type="hidden" name="methods" value="{methods}">
  {rd_field}
  <button type="submit" style="background:#6b7280">{label}</button>
</form>"#,
            label = ui.h(M::ButtonSendCodeInstead),
            csrf = escape(csrf),
            token = escape(step.token),
            methods = escape(step.methods),
        )
    } else {
        String::new()
    };
    format!(
        r#"<h1>{title}</h1>
{error}{notice}
<form method="post" action="/auth/mfa/verify">
  <input type="hidden" name="csrf" value="{csrf}">
  <input type="hidden" name="mfa_token" value="{token}">
  <input type="hidden" name="methods" value="{methods}">
  {rd_field}
  <label for="method">{l_method}</label>
  <select id="method" name="method">
    {options}
  </select>
  <label for="code">{l_code}</label>
  <input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" required autofocus>
  <button type="submit">{verify}</button>
</form>
{send}"#,
        csrf = escape(csrf),
        token = escape(step.token),
        methods = escape(step.methods),
        options = options.join("\n    "),
        title = ui.h(M::SecondFactor),
        l_method = ui.h(M::LabelMethod),
        l_code = ui.h(M::LabelCode),
        verify = ui.h(M::ButtonVerify),
    )
}

/// `POST /auth/mfa/verify` from the portal's code form.
pub(crate) async fn submit_code(p: Post) -> Response {
    let ui = p.ui();
    let Some(f) = p.form() else { return form_expired_in(&ui, SIGN_IN_AGAIN) };
    let Post { s, rt, info, .. } = p;
    let (get, form_csrf, rd) = (|k: &str| f.get(k), f.get("csrf"), f.rd.clone());
    let token = get("mfa_token").to_string();
    let step = MfaStep { token: &token, methods: get("methods"), notice: None };
    let attempt =
        mfa_attempt(&s, rt.clone(), &info, token.clone(), get("method").to_string(), get("code").trim().to_string());
    match attempt.await {
        Ok((signed, _)) => signed_in_redirect(&rt, signed, rd),
        Err(e) => {
            let (status, msg) = refusal_in(Step::MfaCode, &e);
            if matches!(e, FlowError::InvalidCode) {
                let form = code_form(&ui, rd.as_deref(), form_csrf, &step, Some(ui.t(msg)));
                return html(status, ui.page(M::SecondFactor, &form), None);
            }
            sign_in_again(&ui, status, msg)
        }
    }
}
