//! Recognising the OBC1 `CustomGBForce` that OpenMM's `app` layer emits (`openmm.app.internal.
//! customgbforces.GBSAOBC1Force`, used by `AmberPrmtopFile.createSystem(implicitSolvent=OBC1)`
//! and by `ForceField` with `implicit/obc1.xml`).
//!
//! A `CustomGBForce` is arbitrary algebra; only this exact form is accepted. Its expressions are
//! compared, after removing all whitespace, with the ones OpenMM writes; the only free parts are
//! the solute and solvent dielectric constants, which appear as literal definitions
//! (`solventDielectric=78.5; soluteDielectric=1`) and must be the same in every expression.
//! Salt screening (`kappa` other than 0), global parameters, tabulated functions, a cutoff or any
//! other difference is refused with an error naming what differs.

use super::PairTable;
use super::obc::Obc;
use crate::xml::{ForceXml, parse_f64};

/// The computed value I (type 2, ParticlePairNoExclusions).
const I_EXPR: &str = "select(step(r+sr2-or1), 0.5*(1/L-1/U+0.25*(r-sr2^2/r)*(1/(U^2)-1/(L^2))+0.5*log(L/U)/r), 0);U=r+sr2;L=max(or1, D);D=abs(r-sr2)";
/// The computed value B (type 0, SingleParticle): α = 0.8, β = 0, γ = 2.909125, offset 0.009.
const B_EXPR: &str =
    "1/(1/or-tanh(0.8*psi+2.909125*psi^3)/radius);psi=I*or; radius=or+offset; offset=0.009";
/// The definitions that close every energy term; `{solvent}`/`{solute}` are the dielectrics.
const TAIL: &str = "; solventDielectric={solvent}; soluteDielectric={solute}; kappa=0; offset=0.008999999999999999";
/// Energy term 0 (SingleParticle): the Born self energy.
const SELF_EXPR: &str = "-0.5*138.935485*(1/soluteDielectric-1/solventDielectric)*charge^2/B";
/// Energy term 1 (SingleParticle): the ACE surface-area term.
const SA_EXPR: &str = "28.3919551*(radius+0.14)^2*(radius/B)^6; radius=or+offset";
/// Energy term 2 (ParticlePairNoExclusions): the pair screening.
const PAIR_EXPR: &str = "-138.935485*(1/soluteDielectric-1/solventDielectric)*charge1*charge2/f;f=sqrt(r^2+B1*B2*exp(-r^2/(4*B1*B2)))";

/// The constants of the recognised expressions.
const COULOMB: f64 = 138.935485;
const SA_FACTOR: f64 = 28.3919551;
const PROBE: f64 = 0.14;
/// The dielectric offset: `0.009` in B's expression, written `0.008999999999999999` in the
/// energy terms, which is the same f64.
const OFFSET: f64 = 0.009;

/// OpenMM's `CustomGBForce::ComputationType`, by number.
const SINGLE_PARTICLE: i64 = 0;
const PAIR_NO_EXCLUSIONS: i64 = 2;

fn squash(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// The text of a literal definition `name=value` in an expression (whitespace removed).
fn definition<'a>(expr: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("{name}=");
    expr.split(';')
        .find_map(|part| part.strip_prefix(key.as_str()))
}

/// Turns a `CustomGBForce` into the OBC1 model, or explains why it is not the recognised form.
pub fn from_custom_gb(force: &ForceXml, n: usize, pairs: &PairTable) -> Result<Obc, String> {
    let e = &force.element;
    let name = &force.name;
    let unrecognised = |what: String| {
        format!(
            "{name} (CustomGBForce) is not a recognised form: {what}. Only the OBC1 implicit \
             solvent that OpenMM's app layer emits (implicitSolvent=OBC1, no salt) is supported"
        )
    };
    let method = e.int("method", name)?;
    if method != 0 {
        let method = match method {
            1 => "CutoffNonPeriodic".to_owned(),
            2 => "CutoffPeriodic".to_owned(),
            m => format!("method {m}"),
        };
        return Err(format!(
            "{name} (CustomGBForce) uses the nonbonded method {method}; only NoCutoff is supported"
        ));
    }
    for section in [
        "GlobalParameters",
        "Functions",
        "EnergyParameterDerivatives",
    ] {
        if !e.list(section).is_empty() {
            return Err(unrecognised(format!("it has {section}")));
        }
    }
    let params: Vec<_> = e
        .list("PerParticleParameters")
        .iter()
        .map(|p| p.attr("name").unwrap_or(""))
        .collect();
    if params != ["charge", "or", "sr"] {
        return Err(unrecognised(format!(
            "its per-particle parameters are {params:?}, not [\"charge\", \"or\", \"sr\"]"
        )));
    }

    // The dielectrics, read from the self-energy term and then required everywhere.
    let terms = e.list("EnergyTerms");
    let first = terms
        .first()
        .and_then(|t| t.attr("expression"))
        .map(squash)
        .unwrap_or_default();
    let (solvent_text, solute_text) = match (
        definition(&first, "solventDielectric"),
        definition(&first, "soluteDielectric"),
    ) {
        (Some(a), Some(b)) => (a.to_owned(), b.to_owned()),
        _ => {
            return Err(unrecognised(
                "its first energy term does not define the dielectric constants".to_owned(),
            ));
        }
    };
    let solvent = parse_f64(&solvent_text).filter(|v| *v > 0.0);
    let solute = parse_f64(&solute_text).filter(|v| *v > 0.0);
    let (Some(solvent), Some(solute)) = (solvent, solute) else {
        return Err(unrecognised(format!(
            "dielectric constants {solvent_text:?} and {solute_text:?} are not positive numbers"
        )));
    };
    let tail = TAIL
        .replace("{solvent}", &solvent_text)
        .replace("{solute}", &solute_text);

    let check = |what: &str, list: &str, expected: &[(&str, i64, Option<&str>)]| {
        let items = e.list(list);
        if items.len() != expected.len() {
            return Err(unrecognised(format!(
                "it has {} {what}, the recognised form {}",
                items.len(),
                expected.len()
            )));
        }
        for (k, (item, &(expr, kind, value_name))) in items.iter().zip(expected).enumerate() {
            let found = squash(item.attr("expression").unwrap_or(""));
            if found != squash(expr) {
                return Err(unrecognised(format!(
                    "{what} {k} is `{}`, the recognised form has `{expr}`",
                    item.attr("expression").unwrap_or("")
                )));
            }
            let found_kind = item.int("type", &format!("{name} {what} {k}"))?;
            if found_kind != kind {
                return Err(unrecognised(format!(
                    "{what} {k} has computation type {found_kind}, the recognised form {kind}"
                )));
            }
            if let Some(value_name) = value_name
                && item.attr("name") != Some(value_name)
            {
                return Err(unrecognised(format!(
                    "{what} {k} is named {:?}, the recognised form {value_name:?}",
                    item.attr("name").unwrap_or("")
                )));
            }
        }
        Ok(())
    };
    check(
        "computed value",
        "ComputedValues",
        &[
            (I_EXPR, PAIR_NO_EXCLUSIONS, Some("I")),
            (B_EXPR, SINGLE_PARTICLE, Some("B")),
        ],
    )?;
    let self_expr = format!("{SELF_EXPR}{tail}");
    let sa_expr = format!("{SA_EXPR}{tail}");
    let pair_expr = format!("{PAIR_EXPR}{tail}");
    check(
        "energy term",
        "EnergyTerms",
        &[
            (&self_expr, SINGLE_PARTICLE, None),
            (&sa_expr, SINGLE_PARTICLE, None),
            (&pair_expr, PAIR_NO_EXCLUSIONS, None),
        ],
    )?;

    let particles = e.list("Particles");
    if particles.len() != n {
        return Err(format!(
            "{name} (CustomGBForce) has {} particles but the system has {n}",
            particles.len()
        ));
    }
    let mut obc = Obc::empty("CustomGBForce (OBC1, openmm.app)", n);
    for (i, p) in particles.iter().enumerate() {
        let context = format!("{name} particle {i}");
        let (charge, or, sr) = (
            p.f64("param1", &context)?,
            p.f64("param2", &context)?,
            p.f64("param3", &context)?,
        );
        if or <= 0.0 || sr < 0.0 {
            return Err(format!(
                "{context}: offset radius {or} must be positive and scaled radius {sr} not negative"
            ));
        }
        obc.charge.push(charge);
        obc.offset_radius.push(or);
        obc.tanh_radius.push(or + OFFSET);
        obc.scaled_radius.push(sr);
        obc.sa_radius.push(or + OFFSET);
    }
    obc.alpha = 0.8;
    obc.beta = 0.0;
    obc.gamma = 2.909125;
    obc.prefactor = -COULOMB * (1.0 / solute - 1.0 / solvent);
    obc.sa_factor = SA_FACTOR;
    obc.probe_radius = PROBE;
    obc.buried_correction = false;
    obc.finish(pairs);
    Ok(obc)
}
