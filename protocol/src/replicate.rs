//! Replicated state as a game declares it: field codecs with their quantization, and the
//! [`replicated!`](crate::replicated) macro that makes a struct of them a [`Replicated`] entity
//! state, its bit-packed whole and delta forms, their bounded decoding and their bit cost
//! written by the macro, not by hand.
//!
//! A field is one of the quantized types here ([`UInt`], [`Flag`], [`Angle`], [`Coord`],
//! [`Point`], [`Tag`] for a game's enum; each numeric one stored in the smallest [`Steps`]
//! integer the game names, checked at compile time to hold its bits) or any type implementing
//! [`Field`] (custom serialization). An entity new to a client gets every field whole; an entity the client
//! holds gets one change flag per field that can change and the changed fields' delta forms;
//! fields marked `#[once]` are sent whole and never again (a projectile's launch state).

use std::fmt::Debug;

pub use crate::bits::{BitReader, BitWriter};
use crate::sync::SyncError;
#[doc(hidden)]
pub use serde_json; // for the code `replicated!` writes

/// One replicated field's wire form. Decoding is bounded: it reads at most `FULL_BITS` (or the
/// delta form's bits) and fails on a value out of range rather than producing one.
pub trait Field: Copy + PartialEq + Eq + Debug + Send + Sync + 'static {
    /// Bits of the whole value.
    const FULL_BITS: usize;
    /// Writes the whole value.
    fn write_full(&self, w: &mut BitWriter);
    /// Reads a whole value.
    ///
    /// # Errors
    /// [`SyncError::Truncated`] when the bits run out; [`SyncError::Malformed`] for a value
    /// the field cannot hold.
    fn read_full(r: &mut BitReader<'_>) -> Result<Self, SyncError>;
    /// Bits of `self` written as a change from `base` (called only when they differ).
    #[inline]
    fn delta_bits(&self, base: &Self) -> usize {
        let _ = base;
        Self::FULL_BITS
    }
    /// Writes `self` as a change from `base` (called only when they differ).
    #[inline]
    fn write_delta(&self, base: &Self, w: &mut BitWriter) {
        let _ = base;
        self.write_full(w);
    }
    /// Reads a value written by [`Field::write_delta`] against `base`.
    ///
    /// # Errors
    /// As [`Field::read_full`].
    #[inline]
    fn read_delta(base: &Self, r: &mut BitReader<'_>) -> Result<Self, SyncError> {
        let _ = base;
        Self::read_full(r)
    }
    /// The value as a spectator or a tool shows it, in world units where the field has them.
    /// The default is the value's `Debug` form.
    fn to_json(&self) -> serde_json::Value {
        serde_json::Value::String(format!("{self:?}"))
    }
}

/// One entity's replicated state, as a game declares it with
/// [`replicated!`](crate::replicated).
pub trait Replicated: Copy + PartialEq + Eq + Debug + Send + Sync + 'static {
    /// Bits of the whole state (an entity new to the client).
    fn full_bits(&self) -> usize;
    /// Writes the whole state.
    fn write_full(&self, w: &mut BitWriter);
    /// Reads a whole state.
    ///
    /// # Errors
    /// As [`Field::read_full`].
    fn read_full(r: &mut BitReader<'_>) -> Result<Self, SyncError>;
    /// Bits of the change from `base`: a flag per field that can change, and the changed
    /// fields' delta forms.
    fn delta_bits(&self, base: &Self) -> usize;
    /// Writes the change from `base`.
    fn write_delta(&self, base: &Self, w: &mut BitWriter);
    /// Reads a change written by [`Replicated::write_delta`] against `base`.
    ///
    /// # Errors
    /// As [`Field::read_full`].
    fn read_delta(base: &Self, r: &mut BitReader<'_>) -> Result<Self, SyncError>;
    /// Whether `other` has the same `#[once]` fields: a change can only take an entity
    /// between two such states (the others are another entity).
    fn same_once(&self, other: &Self) -> bool;
    /// Where the entity is, for interest management: its `#[position]` field as x, y, z (z is
    /// 0 in 2-D); `None` for a state without one.
    fn position(&self) -> Option<[f32; 3]>;
    /// Every field by name, as [`Field::to_json`] shows it: what a spectator sees of the
    /// entity, whatever the game. Not on the hot path (it allocates).
    fn to_json(&self) -> serde_json::Map<String, serde_json::Value>;
}

/// Bits needed for values `0..=max`.
pub const fn bits_for(max: u32) -> u32 {
    if max == 0 {
        1
    } else {
        32 - max.leading_zeros()
    }
}

/// The integer a quantized field is stored in (`u8`, `u16` or `u32`): a game picks the
/// smallest that holds the field's bits, so a view of many entities stays small to copy. A
/// field whose bits do not fit its storage does not compile:
///
/// ```
/// use protocol::replicate::{Field, UInt};
/// assert_eq!(<UInt<u8, 8> as Field>::FULL_BITS, 8); // eight bits in a u8
/// ```
///
/// ```compile_fail
/// use protocol::replicate::{Field, UInt};
/// let _ = <UInt<u8, 9> as Field>::FULL_BITS; // nine bits in a u8
/// ```
pub trait Steps:
    Copy + Eq + Ord + std::hash::Hash + Debug + Default + Send + Sync + 'static
{
    /// Bits it holds.
    const BITS: u32;
    /// `v`, which fits.
    fn from_u32(v: u32) -> Self;
    /// As a `u32`.
    fn to_u32(self) -> u32;
}

macro_rules! steps {
    ($($t:ty),*) => {$(
        impl Steps for $t {
            const BITS: u32 = <$t>::BITS;
            #[inline]
            fn from_u32(v: u32) -> Self {
                v as $t
            }
            #[inline]
            fn to_u32(self) -> u32 {
                u32::from(self)
            }
        }
    )*};
}
steps!(u8, u16, u32);

/// The largest value of `bits` bits.
const fn max_of(bits: u32) -> u32 {
    if bits >= 32 {
        u32::MAX
    } else {
        (1 << bits) - 1
    }
}

/// An unsigned integer of `BITS` bits stored in `T`; values above the largest are clamped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct UInt<T: Steps, const BITS: u32>(T);

impl<T: Steps, const BITS: u32> UInt<T, BITS> {
    /// The largest value.
    pub const MAX: u32 = {
        assert!(
            BITS >= 1 && BITS <= T::BITS,
            "BITS must fit the storage type"
        );
        max_of(BITS)
    };

    /// `value`, clamped to [`UInt::MAX`].
    #[inline]
    pub fn new(value: u32) -> Self {
        Self(T::from_u32(value.min(Self::MAX)))
    }

    /// The value.
    #[inline]
    pub fn get(self) -> u32 {
        self.0.to_u32()
    }
}

impl<T: Steps, const BITS: u32> Field for UInt<T, BITS> {
    const FULL_BITS: usize = {
        let _ = Self::MAX;
        BITS as usize
    };
    #[inline]
    fn write_full(&self, w: &mut BitWriter) {
        w.write(self.0.to_u32(), BITS);
    }
    #[inline]
    fn read_full(r: &mut BitReader<'_>) -> Result<Self, SyncError> {
        Ok(Self(T::from_u32(r.read(BITS)?)))
    }
    fn to_json(&self) -> serde_json::Value {
        self.get().into()
    }
}

/// A boolean, one bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Flag(pub bool);

impl Field for Flag {
    const FULL_BITS: usize = 1;
    #[inline]
    fn write_full(&self, w: &mut BitWriter) {
        w.bit(self.0);
    }
    #[inline]
    fn read_full(r: &mut BitReader<'_>) -> Result<Self, SyncError> {
        Ok(Self(r.bit()?))
    }
    fn to_json(&self) -> serde_json::Value {
        self.0.into()
    }
}

/// A direction in `2^BITS` steps of a turn (1 to 16 bits), stored in `T`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Angle<T: Steps, const BITS: u32>(T);

impl<T: Steps, const BITS: u32> Angle<T, BITS> {
    const FITS: () = assert!(
        BITS >= 1 && BITS <= 16 && BITS <= T::BITS,
        "an angle has 1 to 16 bits, within its storage type"
    );

    /// From a turn quantized to 16 bits (`0..65536` is a whole turn), keeping the top `BITS`.
    #[inline]
    pub fn from_turn16(turn: u16) -> Self {
        let () = Self::FITS;
        Self(T::from_u32(u32::from(turn) >> (16 - BITS)))
    }

    /// From radians (any value; wraps around).
    #[inline]
    pub fn from_radians(radians: f32) -> Self {
        let () = Self::FITS;
        let turns = if radians.is_finite() {
            (radians / std::f32::consts::TAU).rem_euclid(1.0)
        } else {
            0.0
        };
        let steps = 1u32 << BITS;
        Self(T::from_u32(((turns * steps as f32).round() as u32) % steps))
    }

    /// As a 16-bit turn.
    #[inline]
    pub fn to_turn16(self) -> u16 {
        (self.0.to_u32() << (16 - BITS)) as u16
    }

    /// In radians, `0..TAU`.
    #[inline]
    pub fn to_radians(self) -> f32 {
        self.0.to_u32() as f32 / (1u32 << BITS) as f32 * std::f32::consts::TAU
    }

    /// The quantized steps.
    #[inline]
    pub fn steps(self) -> u32 {
        self.0.to_u32()
    }
}

impl<T: Steps, const BITS: u32> Field for Angle<T, BITS> {
    const FULL_BITS: usize = {
        let () = Self::FITS;
        BITS as usize
    };
    #[inline]
    fn write_full(&self, w: &mut BitWriter) {
        w.write(self.0.to_u32(), BITS);
    }
    #[inline]
    fn read_full(r: &mut BitReader<'_>) -> Result<Self, SyncError> {
        Ok(Self(T::from_u32(r.read(BITS)?)))
    }
    /// Radians.
    fn to_json(&self) -> serde_json::Value {
        self.to_radians().into()
    }
}

/// A number in `MIN..=MAX` world units, in steps of `1 / STEPS` unit, stored in `T`;
/// out-of-range values are clamped, and a value that is not a number is `MIN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Coord<T: Steps, const MIN: i32, const MAX: i32, const STEPS: u32>(T);

impl<T: Steps, const MIN: i32, const MAX: i32, const STEPS: u32> Coord<T, MIN, MAX, STEPS> {
    /// Bits of a whole value.
    pub const BITS: u32 = range_bits(MIN, MAX, STEPS, T::BITS);

    /// `value`, quantized.
    #[inline]
    pub fn new(value: f32) -> Self {
        let _ = Self::BITS;
        Self(T::from_u32(quantize(value, MIN, MAX, STEPS)))
    }

    /// The value in world units.
    #[inline]
    pub fn get(self) -> f32 {
        self.0.to_u32() as f32 / STEPS as f32 + MIN as f32
    }

    /// The quantized steps above `MIN`.
    #[inline]
    pub fn steps(self) -> u32 {
        self.0.to_u32()
    }
}

/// Bits of a quantized range, checked at compile time to fit the storage.
const fn range_bits(min: i32, max: i32, steps: u32, storage: u32) -> u32 {
    assert!(
        min < max && steps > 0,
        "a range needs MIN < MAX and STEPS > 0"
    );
    let bits = bits_for((max - min) as u32 * steps);
    assert!(
        bits <= storage,
        "the range's steps must fit the storage type"
    );
    bits
}

#[inline]
fn quantize(value: f32, min: i32, max: i32, steps: u32) -> u32 {
    let value = if value.is_finite() {
        value.clamp(min as f32, max as f32)
    } else {
        min as f32
    };
    ((value - min as f32) * steps as f32).round() as u32
}

impl<T: Steps, const MIN: i32, const MAX: i32, const STEPS: u32> Field
    for Coord<T, MIN, MAX, STEPS>
{
    const FULL_BITS: usize = Self::BITS as usize;
    #[inline]
    fn write_full(&self, w: &mut BitWriter) {
        w.write(self.0.to_u32(), Self::BITS);
    }
    #[inline]
    fn read_full(r: &mut BitReader<'_>) -> Result<Self, SyncError> {
        Ok(Self(T::from_u32(r.read(Self::BITS)?)))
    }
    /// World units.
    fn to_json(&self) -> serde_json::Value {
        self.get().into()
    }
}

/// A position of `D` coordinates (2-D or 3-D), each in `MIN..=MAX` units in steps of
/// `1 / STEPS`, stored in `T`; a move by less than `2^(SMALL - 1)` steps on every axis is sent
/// as `SMALL` signed bits per axis (plus one flag bit), a bigger one whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Point<
    T: Steps,
    const D: usize,
    const MIN: i32,
    const MAX: i32,
    const STEPS: u32,
    const SMALL: u32,
>([T; D]);

impl<T: Steps, const D: usize, const MIN: i32, const MAX: i32, const STEPS: u32, const SMALL: u32>
    Point<T, D, MIN, MAX, STEPS, SMALL>
{
    const BITS: u32 = {
        let bits = range_bits(MIN, MAX, STEPS, T::BITS);
        assert!(bits <= 31, "a position's coordinates have at most 31 bits");
        bits
    };
    /// The largest value a coordinate's bits can hold: a delta is clamped to it on decoding,
    /// so no sender can push a coordinate past what the field reads.
    const CEILING: i32 = max_of(Self::BITS) as i32;
    const SMALL_MAX: i32 = {
        assert!(SMALL >= 2 && SMALL < 32, "a small move has 2 to 31 bits");
        (1 << (SMALL - 1)) - 1
    };

    /// `coords`, quantized.
    #[inline]
    pub fn new(coords: [f32; D]) -> Self {
        let _ = Self::BITS;
        Self(coords.map(|c| T::from_u32(quantize(c, MIN, MAX, STEPS))))
    }

    /// From quantized steps above `MIN` per axis, each clamped to what the field holds.
    #[inline]
    pub fn from_steps(steps: [u32; D]) -> Self {
        Self(steps.map(|s| T::from_u32(s.min(Self::CEILING as u32))))
    }

    /// The coordinates in world units.
    #[inline]
    pub fn get(self) -> [f32; D] {
        self.0
            .map(|q| q.to_u32() as f32 / STEPS as f32 + MIN as f32)
    }

    /// The coordinates in world units as x, y, z (missing axes 0): the position interest
    /// management reads.
    #[inline]
    pub fn position(self) -> [f32; 3] {
        let mut out = [0.0; 3];
        for (o, v) in out.iter_mut().zip(self.get()) {
            *o = v;
        }
        out
    }

    /// The quantized steps above `MIN`, per axis.
    #[inline]
    pub fn steps(self) -> [u32; D] {
        self.0.map(T::to_u32)
    }

    /// The per-axis move from `base` in steps, if every axis fits the small form.
    #[inline]
    fn small_from(&self, base: &Self) -> Option<[i32; D]> {
        let mut deltas = [0i32; D];
        for (d, (to, from)) in deltas.iter_mut().zip(self.0.iter().zip(&base.0)) {
            // Both are below 2^31 (the range's bits fit in `T` and in 31 bits of `CEILING`).
            *d = to.to_u32() as i32 - from.to_u32() as i32;
            if !(-Self::SMALL_MAX - 1..=Self::SMALL_MAX).contains(d) {
                return None;
            }
        }
        Some(deltas)
    }
}

impl<T: Steps, const D: usize, const MIN: i32, const MAX: i32, const STEPS: u32, const SMALL: u32>
    Default for Point<T, D, MIN, MAX, STEPS, SMALL>
{
    fn default() -> Self {
        Self([T::default(); D])
    }
}

impl<T: Steps, const D: usize, const MIN: i32, const MAX: i32, const STEPS: u32, const SMALL: u32>
    Field for Point<T, D, MIN, MAX, STEPS, SMALL>
{
    const FULL_BITS: usize = D * Self::BITS as usize;
    #[inline]
    fn write_full(&self, w: &mut BitWriter) {
        for c in self.0 {
            w.write(c.to_u32(), Self::BITS);
        }
    }
    #[inline]
    fn read_full(r: &mut BitReader<'_>) -> Result<Self, SyncError> {
        let mut coords = [T::default(); D];
        for c in &mut coords {
            *c = T::from_u32(r.read(Self::BITS)?);
        }
        Ok(Self(coords))
    }
    #[inline]
    fn delta_bits(&self, base: &Self) -> usize {
        1 + match self.small_from(base) {
            Some(_) => D * SMALL as usize,
            None => Self::FULL_BITS,
        }
    }
    #[inline]
    fn write_delta(&self, base: &Self, w: &mut BitWriter) {
        match self.small_from(base) {
            Some(deltas) => {
                w.bit(true);
                for d in deltas {
                    w.write(d as u32, SMALL);
                }
            }
            None => {
                w.bit(false);
                self.write_full(w);
            }
        }
    }
    #[inline]
    fn read_delta(base: &Self, r: &mut BitReader<'_>) -> Result<Self, SyncError> {
        if !r.bit()? {
            return Self::read_full(r);
        }
        let mut coords = base.0;
        for c in &mut coords {
            let d = signed(r.read(SMALL)?, SMALL);
            *c = T::from_u32((c.to_u32() as i32 + d).clamp(0, Self::CEILING) as u32);
        }
        Ok(Self(coords))
    }
    /// World units, one number per axis.
    fn to_json(&self) -> serde_json::Value {
        self.get().to_vec().into()
    }
}

/// Sign-extends the low `bits` bits of `v`.
#[inline]
fn signed(v: u32, bits: u32) -> i32 {
    let shift = 32 - bits;
    ((v << shift) as i32) >> shift
}

/// A game's enum as a replicated field: its values as small integers of [`WireEnum::BITS`].
pub trait WireEnum: Copy + PartialEq + Eq + Debug + Send + Sync + 'static {
    /// Bits of a value.
    const BITS: u32;
    /// The value's number (below `2^BITS`).
    fn to_bits(self) -> u32;
    /// The value a number stands for, if any.
    fn from_bits(bits: u32) -> Option<Self>;
}

/// A [`WireEnum`] field; a number that stands for no value fails to decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tag<E: WireEnum>(pub E);

impl<E: WireEnum> Field for Tag<E> {
    const FULL_BITS: usize = E::BITS as usize;
    #[inline]
    fn write_full(&self, w: &mut BitWriter) {
        w.write(self.0.to_bits(), E::BITS);
    }
    #[inline]
    fn read_full(r: &mut BitReader<'_>) -> Result<Self, SyncError> {
        E::from_bits(r.read(E::BITS)?)
            .map(Self)
            .ok_or(SyncError::Malformed("unknown enum value"))
    }
    /// The value's name (its `Debug` form).
    fn to_json(&self) -> serde_json::Value {
        serde_json::Value::String(format!("{:?}", self.0))
    }
}

/// Declares a replicated entity state: a struct of [`Field`]s and its [`Replicated`] codec.
/// A field marked `#[once]` (written before its other attributes) is sent whole when the
/// entity is new to a client and never again (it must not change); every other field gets a
/// change flag in each update. One [`Point`] field may be marked `#[position]` (also before its
/// other attributes): the entity's place for interest management
/// ([`Replicated::position`]). The whole form is the `#[once]` fields in the order written,
/// then the others in the order written.
///
/// ```
/// use protocol::replicate::{Angle, Flag, Point, UInt};
///
/// protocol::replicated! {
///     /// A ship: a 3-D position in ±4096 units at 1/16 unit, yaw, shield up or not.
///     pub struct Ship {
///         #[once]
///         /// Its hull class, fixed at launch.
///         pub hull: UInt<u8, 3>,
///         #[position]
///         pub at: Point<u32, 3, -4096, 4096, 16, 8>,
///         pub yaw: Angle<u16, 10>,
///         pub shield: Flag,
///     }
/// }
///
/// use protocol::replicate::Replicated;
/// let ship = Ship {
///     hull: UInt::new(2),
///     at: Point::new([-10.0, 20.0, 30.5]),
///     yaw: Angle::from_radians(0.0),
///     shield: Flag(true),
/// };
/// assert_eq!(ship.position(), Some([-10.0, 20.0, 30.5]));
/// ```
#[macro_export]
macro_rules! replicated {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident { $($body:tt)* }
    ) => {
        $crate::replicated!(
            @fields [$(#[$meta])*] [$vis] [$name] once[] each[] position[] $($body)*
        );
    };
    // A field sent once.
    (
        @fields $m:tt $v:tt $n:tt once[$($o:tt)*] each[$($e:tt)*] position[$($p:tt)*]
        #[once] $(#[$fm:meta])* $fv:vis $field:ident : $ty:ty $(, $($rest:tt)*)?
    ) => {
        $crate::replicated!(
            @fields $m $v $n once[$($o)* {[$(#[$fm])*] [$fv] $field [$ty]}] each[$($e)*]
            position[$($p)*] $($($rest)*)?
        );
    };
    // The position, for interest: a field that may change.
    (
        @fields $m:tt $v:tt $n:tt once[$($o:tt)*] each[$($e:tt)*] position[]
        #[position] $(#[$fm:meta])* $fv:vis $field:ident : $ty:ty $(, $($rest:tt)*)?
    ) => {
        $crate::replicated!(
            @fields $m $v $n once[$($o)*] each[$($e)* {[$(#[$fm])*] [$fv] $field [$ty]}]
            position[$field] $($($rest)*)?
        );
    };
    // A field that may change.
    (
        @fields $m:tt $v:tt $n:tt once[$($o:tt)*] each[$($e:tt)*] position[$($p:tt)*]
        $(#[$fm:meta])* $fv:vis $field:ident : $ty:ty $(, $($rest:tt)*)?
    ) => {
        $crate::replicated!(
            @fields $m $v $n once[$($o)*] each[$($e)* {[$(#[$fm])*] [$fv] $field [$ty]}]
            position[$($p)*] $($($rest)*)?
        );
    };
    // Every field read: the struct and its codec.
    (
        @fields [$(#[$meta:meta])*] [$vis:vis] [$name:ident]
        once[$({[$(#[$om:meta])*] [$ov:vis] $once:ident [$oty:ty]})*]
        each[$({[$(#[$fm:meta])*] [$fv:vis] $field:ident [$fty:ty]})*]
        position[$($position:ident)?]
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        $vis struct $name {
            $( $(#[$om])* $ov $once: $oty, )*
            $( $(#[$fm])* $fv $field: $fty, )*
        }

        impl $crate::replicate::Replicated for $name {
            #[inline]
            fn full_bits(&self) -> usize {
                0 $( + <$oty as $crate::replicate::Field>::FULL_BITS )*
                  $( + <$fty as $crate::replicate::Field>::FULL_BITS )*
            }

            #[inline]
            fn write_full(&self, w: &mut $crate::replicate::BitWriter) {
                let _ = &w; // a state with no fields writes nothing
                $( $crate::replicate::Field::write_full(&self.$once, w); )*
                $( $crate::replicate::Field::write_full(&self.$field, w); )*
            }

            #[inline]
            fn read_full(
                r: &mut $crate::replicate::BitReader<'_>,
            ) -> ::std::result::Result<Self, $crate::sync::SyncError> {
                let _ = &r;
                // Struct expressions evaluate their fields in the order written: the wire order.
                Ok(Self {
                    $( $once: <$oty as $crate::replicate::Field>::read_full(r)?, )*
                    $( $field: <$fty as $crate::replicate::Field>::read_full(r)?, )*
                })
            }

            #[inline]
            fn delta_bits(&self, base: &Self) -> usize {
                let _ = base;
                #[allow(unused_mut)]
                let mut bits = 0;
                $(
                    bits += 1;
                    if self.$field != base.$field {
                        bits += $crate::replicate::Field::delta_bits(&self.$field, &base.$field);
                    }
                )*
                bits
            }

            #[inline]
            fn write_delta(&self, base: &Self, w: &mut $crate::replicate::BitWriter) {
                let _ = (base, &w);
                $(
                    let changed = self.$field != base.$field;
                    w.bit(changed);
                    if changed {
                        $crate::replicate::Field::write_delta(&self.$field, &base.$field, w);
                    }
                )*
            }

            #[inline]
            fn position(&self) -> ::std::option::Option<[f32; 3]> {
                ::std::option::Option::None
                    $( .or(Some($crate::replicate::Point::position(self.$position))) )?
            }

            fn to_json(
                &self,
            ) -> $crate::replicate::serde_json::Map<::std::string::String, $crate::replicate::serde_json::Value> {
                #[allow(unused_mut)] // a state with no fields
                let mut out = $crate::replicate::serde_json::Map::new();
                $( out.insert(stringify!($once).into(), $crate::replicate::Field::to_json(&self.$once)); )*
                $( out.insert(stringify!($field).into(), $crate::replicate::Field::to_json(&self.$field)); )*
                out
            }

            #[inline]
            fn same_once(&self, other: &Self) -> bool {
                let _ = other; // a state without `#[once]` fields reads nothing of it
                true $( && self.$once == other.$once )*
            }

            #[inline]
            fn read_delta(
                base: &Self,
                r: &mut $crate::replicate::BitReader<'_>,
            ) -> ::std::result::Result<Self, $crate::sync::SyncError> {
                let _ = (base, &r);
                Ok(Self {
                    $( $once: base.$once, )*
                    $(
                        $field: if r.bit()? {
                            <$fty as $crate::replicate::Field>::read_delta(&base.$field, r)?
                        } else {
                            base.$field
                        },
                    )*
                })
            }
        }
    };
}

crate::replicated! {
    /// The state of a game that replicates no entities (a game whose players learn everything
    /// from events): nothing to send, nothing to decode.
    pub struct NoState {}
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::replicated! {
        /// Every kind of field, 3-D and signed.
        struct Probe {
            #[once]
            kind: UInt<u8, 3>,
            #[position]
            at: Point<u16, 3, -100, 100, 8, 6>,
            heading: Angle<u16, 9>,
            speed: Coord<u8, 0, 50, 4>,
            lit: Flag,
        }
    }

    fn probe(x: f32, heading: f32, lit: bool) -> Probe {
        Probe {
            kind: UInt::new(5),
            at: Point::new([x, -x, 99.9]),
            heading: Angle::from_radians(heading),
            speed: Coord::new(x.abs() / 3.0),
            lit: Flag(lit),
        }
    }

    fn round_trip_full(s: &Probe) -> Probe {
        let mut w = BitWriter::default();
        s.write_full(&mut w);
        let bytes = w.finish();
        assert_eq!(bytes.len(), s.full_bits().div_ceil(8));
        Probe::read_full(&mut BitReader::new(&bytes)).unwrap()
    }

    fn round_trip_delta(s: &Probe, base: &Probe) -> (Probe, usize) {
        let mut w = BitWriter::default();
        s.write_delta(base, &mut w);
        let bytes = w.finish();
        assert_eq!(bytes.len(), s.delta_bits(base).div_ceil(8));
        let back = Probe::read_delta(base, &mut BitReader::new(&bytes)).unwrap();
        (back, s.delta_bits(base))
    }

    #[test]
    fn whole_and_delta_forms_round_trip_at_their_declared_cost() {
        let a = probe(-40.0, 1.0, false);
        assert_eq!(a.full_bits(), 3 + 3 * 11 + 9 + 8 + 1);
        assert_eq!(round_trip_full(&a), a);
        // A small move: flags, the position's small form, nothing else.
        let b = Probe {
            at: Point::new([-39.0, 39.0, 99.9]),
            ..a
        };
        assert_eq!(round_trip_delta(&b, &a), (b, 4 + 1 + 3 * 6));
        // A jump and a change of every field.
        let c = probe(70.0, 2.0, true);
        let (back, bits) = round_trip_delta(&c, &a);
        assert_eq!(back, Probe { kind: a.kind, ..c });
        assert_eq!(bits, 4 + 1 + 3 * 11 + 9 + 8 + 1);
        // Nothing changed: a flag per field.
        assert_eq!(round_trip_delta(&a, &a), (a, 4));
    }

    #[test]
    fn the_position_field_is_where_the_entity_is() {
        let p = probe(-40.0, 1.0, false);
        assert_eq!(p.position(), Some([-40.0, 40.0, 99.875]));
        crate::replicated! {
            struct Nowhere {
                lit: Flag,
            }
        }
        assert_eq!(Nowhere { lit: Flag(true) }.position(), None);
    }

    #[test]
    fn a_spectator_sees_every_field_by_name_in_world_units() {
        let json = serde_json::Value::Object(probe(-40.0, std::f32::consts::PI, true).to_json());
        assert_eq!(
            json,
            serde_json::json!({
                "kind": 5,
                "at": [-40.0, 40.0, 99.875],
                "heading": std::f32::consts::PI,
                "speed": 13.25,
                "lit": true,
            })
        );
        assert_eq!(NoState {}.to_json().len(), 0);
        assert_eq!(NoState {}.full_bits(), 0);
    }

    #[test]
    fn quantization_clamps_and_keeps_signed_values() {
        let p = Point::<u16, 3, -100, 100, 8, 6>::new([-250.0, f32::NAN, 100.0]);
        assert_eq!(p.get(), [-100.0, -100.0, 100.0]);
        let q = Point::<u16, 3, -100, 100, 8, 6>::new([-12.3, 0.0, 12.3]);
        for (got, want) in q.get().iter().zip([-12.3f32, 0.0, 12.3]) {
            assert!((got - want).abs() <= 1.0 / 16.0, "{got} vs {want}");
        }
        assert_eq!(UInt::<u8, 3>::new(99).get(), 7);
        let turn = Angle::<u16, 9>::from_radians(-std::f32::consts::FRAC_PI_2);
        assert!((turn.to_radians() - 1.5 * std::f32::consts::PI).abs() < 0.02);
        assert_eq!(Angle::<u8, 8>::from_turn16(0xab12).to_turn16(), 0xab00);
    }

    #[test]
    fn every_cut_of_an_encoding_is_an_error_not_a_panic() {
        let a = probe(-40.0, 1.0, false);
        let c = probe(70.0, 2.0, true);
        let mut w = BitWriter::default();
        c.write_full(&mut w);
        c.write_delta(&a, &mut w);
        let bytes = w.finish();
        for cut in 0..bytes.len() - 1 {
            let mut r = BitReader::new(&bytes[..cut]);
            let whole = Probe::read_full(&mut r);
            let delta = whole.and_then(|_| Probe::read_delta(&a, &mut r));
            assert_eq!(delta, Err(SyncError::Truncated), "cut at {cut}");
        }
    }

    #[test]
    fn a_delta_cannot_push_a_coordinate_past_what_the_field_holds() {
        type P = Point<u8, 1, 0, 10, 1, 4>; // 4 bits whole, values 0..=15
        let top = P::read_full(&mut BitReader::new(&[0x0f])).unwrap();
        // The small flag (lowest bit) then 4 delta bits: +7 from 15, and -8 from 0: both clamp.
        let up = P::read_delta(&top, &mut BitReader::new(&[0b0_1111])).unwrap();
        assert_eq!(up.steps(), [15]);
        let bottom = P::default();
        let down = P::read_delta(&bottom, &mut BitReader::new(&[0b1_0001])).unwrap();
        assert_eq!(down.steps(), [0]);
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Suit {
        Clubs,
        Hearts,
        Spades,
    }

    impl WireEnum for Suit {
        const BITS: u32 = 2;
        fn to_bits(self) -> u32 {
            self as u32
        }
        fn from_bits(bits: u32) -> Option<Self> {
            [Self::Clubs, Self::Hearts, Self::Spades]
                .get(bits as usize)
                .copied()
        }
    }

    #[test]
    fn an_enum_value_that_stands_for_nothing_is_refused() {
        let mut w = BitWriter::default();
        Tag(Suit::Spades).write_full(&mut w);
        let bytes = w.finish();
        assert_eq!(
            Tag::<Suit>::read_full(&mut BitReader::new(&bytes)),
            Ok(Tag(Suit::Spades))
        );
        assert_eq!(
            Tag::<Suit>::read_full(&mut BitReader::new(&[0b11])),
            Err(SyncError::Malformed("unknown enum value"))
        );
    }
}
