//! Reading a single molecular structure from a CSV file: a header line, then one line per atom
//! `index,x_nm,y_nm,z_nm` in atom order (as `data/alanine_dipeptide/aldp_min_energy.csv`).

use crate::{Error, Result};
use std::path::Path;

/// Reads the structure CSV at `path`: `3 · atoms` values in nm, atom-major.
pub fn read_structure_csv(path: &Path) -> Result<Vec<f64>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    parse_structure_csv(&text).map_err(|message| Error::Config {
        path: path.to_owned(),
        message,
    })
}

/// Parses the text of a structure CSV (see the module documentation); the error names the
/// line that is wrong.
pub fn parse_structure_csv(text: &str) -> std::result::Result<Vec<f64>, String> {
    let mut positions = Vec::new();
    for (number, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let atom = positions.len() / 3;
        if fields.len() != 4 || fields[0].parse::<usize>() != Ok(atom) {
            return Err(format!(
                "line {}: expected `{atom},x_nm,y_nm,z_nm` (atoms in order), found `{line}`",
                number + 1
            ));
        }
        for field in &fields[1..] {
            match field.parse::<f64>() {
                Ok(v) if v.is_finite() => positions.push(v),
                _ => {
                    return Err(format!(
                        "line {}: `{field}` is not a finite number",
                        number + 1
                    ));
                }
            }
        }
    }
    if positions.is_empty() {
        return Err("no atoms: expected a header line, then `index,x_nm,y_nm,z_nm` lines".into());
    }
    Ok(positions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_atoms_in_order() {
        let text = "atom,x_nm,y_nm,z_nm\n0,1.0,2.0,3.0\n1, -0.5 ,0,1e-3\n";
        assert_eq!(
            parse_structure_csv(text).unwrap(),
            vec![1.0, 2.0, 3.0, -0.5, 0.0, 1e-3]
        );
    }

    #[test]
    fn malformed_lines_are_named() {
        for (text, expected) in [
            ("h\n0,1,2\n", "line 2"),
            ("h\n0,1,2,3\n2,1,2,3\n", "line 3"),
            ("h\n0,1,x,3\n", "`x` is not a finite number"),
            ("h\n0,1,NaN,3\n", "`NaN`"),
            ("h\n", "no atoms"),
        ] {
            let message = parse_structure_csv(text).unwrap_err();
            assert!(message.contains(expected), "{message}");
        }
    }
}
