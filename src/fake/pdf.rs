//! A one-page PDF for `GET /v1/billing/invoices/{id}/pdf`, small but well formed: the cross
//! reference table holds the true byte offsets, so PDF readers open it without repair.

/// Builds a PDF whose page shows the invoice number and the total.
pub(crate) fn invoice_pdf(number: &str, total_cents: i64, currency: &str) -> Vec<u8> {
    let text = format!(
        "Invoice {}  Total {}.{:02} {}",
        pdf_text(number),
        total_cents / 100,
        (total_cents % 100).abs(),
        pdf_text(currency)
    );
    let content = format!("BT /F1 18 Tf 72 720 Td ({text}) Tj ET\n");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R \
         /Resources << /Font << /F1 5 0 R >> >> >>"
            .to_owned(),
        format!("<< /Length {} >>\nstream\n{content}endstream", content.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
    ];

    let mut pdf = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (index, object) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n{object}\nendobj\n", index + 1).as_bytes());
    }

    let xref_offset = pdf.len();
    let mut xref = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for offset in offsets {
        xref.push_str(&format!("{offset:010} 00000 n \n"));
    }
    xref.push_str(&format!(
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref_offset}\n%%EOF\n",
        objects.len() + 1
    ));
    pdf.extend_from_slice(xref.as_bytes());
    pdf
}

/// Escapes text for a PDF string literal and replaces non-ASCII characters, which the standard
/// Helvetica encoding cannot show, with `?`.
fn pdf_text(text: &str) -> String {
    text.chars()
        .map(|character| match character {
            '(' | ')' | '\\' => format!("\\{character}"),
            ' '..='~' => character.to_string(),
            _ => "?".to_owned(),
        })
        .collect()
}
